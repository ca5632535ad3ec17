"""One writer per run directory, with real processes: a live holder blocks at once with its
name, a SIGKILLed holder's lock is taken over, racing take-overs leave exactly one holder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from codesweep import locks
from codesweep.errors import CodesweepError

SRC = Path(__file__).resolve().parents[1] / "src"
HOLDER = """
import sys, time
from pathlib import Path
from codesweep import locks
start = Path(sys.argv[2])
if len(sys.argv) > 4:  # slow reads: a racer acts on what it read a while ago
    read_holder = locks.read_holder
    locks.read_holder = lambda path: (read_holder(path), time.sleep(float(sys.argv[4])))[0]
while not start.exists():  # racers start together, each after its own offset
    time.sleep(0.01)
time.sleep(float(sys.argv[5]) if len(sys.argv) > 5 else 0.0)
try:
    with locks.run_dir_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(float(sys.argv[3]))
except Exception as exc:
    print(f"busy: {exc}", flush=True)
"""


def start_holder(run_dir: Path, go: Path, hold_s: float = 60.0,
                 read_delay_s: float | None = None, offset_s: float = 0.0) -> subprocess.Popen:
    delay = [] if read_delay_s is None else [str(read_delay_s), str(offset_s)]
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir), str(go), str(hold_s),
                             *delay],
                            env={**os.environ, "PYTHONPATH": str(SRC)}, stdout=subprocess.PIPE,
                            text=True)


def wait_held(process: subprocess.Popen) -> None:
    assert process.stdout.readline().strip() == "held"


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def write_stale_lock(run_dir: Path) -> locks.Holder:
    stale = replace(locks.Holder.me(), pid=dead_pid(), command="codesweep run old.yaml",
                    pid_start=None)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / locks.RUN_DIR_LOCK).write_text(json.dumps(asdict(stale)))
    return stale


def test_second_writer_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    go = tmp_path / "go"
    go.touch()
    holder = start_holder(tmp_path / "run", go)
    try:
        wait_held(holder)
        started = time.monotonic()
        with pytest.raises(CodesweepError) as caught, locks.run_dir_lock(tmp_path / "run"):
            pass
        assert time.monotonic() - started < 1.0
        message = str(caught.value)
        assert f"is in use by pid {holder.pid} on host {socket.gethostname()} (" in message
        assert "-c" in message and "wait for it to finish or stop it" in message
        assert "\n" not in message
    finally:
        holder.terminate()
        holder.wait()


def test_lock_is_released_when_the_holder_finishes(tmp_path: Path) -> None:
    go = tmp_path / "go"
    go.touch()
    holder = start_holder(tmp_path / "run", go, hold_s=0.0)
    wait_held(holder)
    assert holder.wait(timeout=30) == 0
    assert not (tmp_path / "run" / locks.RUN_DIR_LOCK).exists()
    with locks.run_dir_lock(tmp_path / "run") as me:
        assert me.pid == os.getpid()


def test_lock_of_a_sigkilled_holder_is_taken_over_with_a_note(tmp_path: Path) -> None:
    go = tmp_path / "go"
    go.touch()
    holder = start_holder(tmp_path / "run", go)
    wait_held(holder)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    notes: list[str] = []
    with locks.run_dir_lock(tmp_path / "run", note=notes.append) as me:
        recorded = json.loads((tmp_path / "run" / locks.RUN_DIR_LOCK).read_text())
        assert recorded["pid"] == me.pid == os.getpid()
    assert len(notes) == 1 and f"took over the lock of pid {holder.pid}" in notes[0]
    assert not (tmp_path / "run" / locks.RUN_DIR_LOCK).exists()


def test_racing_takeovers_of_a_stale_lock_leave_one_holder(tmp_path: Path) -> None:
    run_dir, go = tmp_path / "run", tmp_path / "go"
    write_stale_lock(run_dir)
    # staggered, slow readers: later racers still act on the stale lock they read after an
    # earlier one has replaced it, which is the window a take-over must guard
    racers = [start_holder(run_dir, go, hold_s=5.0, read_delay_s=0.3, offset_s=0.1 * number)
              for number in range(6)]
    time.sleep(1.0)  # let every racer import and wait at the start line
    go.touch()
    outputs = [racer.communicate(timeout=60)[0].strip() for racer in racers]
    assert sum(output == "held" for output in outputs) == 1, outputs
    assert all(o == "held" or o.startswith("busy: run directory") for o in outputs), outputs


def test_a_lock_from_another_host_is_never_taken_over(tmp_path: Path) -> None:
    stale = write_stale_lock(tmp_path / "run")
    lock = tmp_path / "run" / locks.RUN_DIR_LOCK
    lock.write_text(json.dumps(asdict(replace(stale, host="elsewhere"))))
    with pytest.raises(CodesweepError, match=f"on host elsewhere .*if that process is gone, "
                                             f"delete {lock}"), locks.run_dir_lock(lock.parent):
        pass


def test_holder_names_the_command_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/x/src/codesweep/__main__.py", "run", "t.yaml"])
    assert locks.command_line() == "codesweep run t.yaml"


def test_a_reused_pid_is_not_the_holder() -> None:
    me = locks.Holder.me()
    assert not me.is_dead()
    assert replace(me, pid_start=(me.pid_start or 0) + 1).is_dead()


def test_same_process_may_reenter_and_releases_only_its_own_lock(tmp_path: Path) -> None:
    lock = tmp_path / "run" / locks.RUN_DIR_LOCK
    with locks.run_dir_lock(tmp_path / "run"):
        with locks.run_dir_lock(tmp_path / "run"):
            assert lock.exists()
        assert lock.exists()  # the outer block still holds it
    assert not lock.exists()
    someone = locks.Holder.me()
    lock.write_text(json.dumps(asdict(someone)))
    locks.release(lock, locks.Holder.me())  # another token: not ours to remove
    assert lock.exists()


def test_dataset_keys_lock_independently(tmp_path: Path) -> None:
    cache = tmp_path / "prepared"
    with locks.dataset_lock(cache / "key-a"), locks.dataset_lock(cache / "key-b"):
        assert sorted(p.name for p in cache.iterdir()) == [".key-a.lock", ".key-b.lock"]
    assert list(cache.iterdir()) == []
