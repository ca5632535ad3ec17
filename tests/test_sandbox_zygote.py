"""The namespaces level's zygotes: they survive their samples, and their own death is handled.

A zygote is one long-lived sandbox process per worker slot that forks each sample. These
tests attack it from inside (a sample), kill or freeze it from outside mid-run, and check
that nothing of one sample reaches the next and that no sample process outlives its run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sandbox_support import run_checked

from codesweep.execution import isolation, reaper, run_program, runner, zygote


def _level(level: str):
    """`level` as a test parameter, skipped where this machine cannot provide it."""
    unavailable = {isolation.NAMESPACES: isolation._namespaces_unavailable,
                   isolation.USERNS: isolation._user_namespaces_unavailable}[level]
    reason = unavailable() or runner.probe(level)
    return pytest.param(level, marks=pytest.mark.skipif(
        reason is not None, reason=f"{level} unavailable here: {reason}"))


LEVELS = [_level(level) for level in isolation.ZYGOTE_LEVELS]  # the levels that use zygotes
# An executed process: the interpreter is the one program the sandbox's minimal root holds.
SLEEPER = "[sys.executable, '-I', '-S', '-c', 'import time; time.sleep(60)']"


def _zygote_pid(level: str) -> int:
    """The host PID of slot 0's zygote (the only child of its `unshare`), started if need be."""
    assert run_program("pass", level=level).passed
    unshare = zygote._zygotes[(level, 0)].process.pid
    (child,) = Path(f"/proc/{unshare}/task/{unshare}/children").read_text().split()
    return int(child)


def _when_sample_runs(marker: str, action) -> threading.Thread:
    """Call `action` from another thread as soon as a process carries `marker`."""

    def watch() -> None:
        deadline = time.monotonic() + 10
        while not reaper.marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.01)
        action()

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


@pytest.mark.parametrize("level", LEVELS)
def test_a_sample_cannot_kill_or_stop_its_zygote(level: str, marker: str) -> None:
    before = _zygote_pid(level)
    program = (
        "import os, signal\nfor pid in (1, os.getppid()):\n"
        "    for s in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):\n"
        "        try:\n            os.kill(pid, s)\n        except OSError:\n            pass\n"
    )
    result, _ = run_checked(program, level, marker)
    assert result.passed, result
    assert _zygote_pid(level) == before  # the same zygote served the next run


@pytest.mark.parametrize("level", LEVELS)
def test_a_sample_holds_no_descriptor_of_its_zygote(level: str, marker: str) -> None:
    # Only stdin/stdout/stderr and the report pipe are open; the channel to the scorer is not.
    before = _zygote_pid(level)
    program = "import os\nprint(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))\n"
    result, _ = run_checked(program, level, marker)
    assert result.passed, result
    # 0-3, plus the one listdir itself opens (the lowest free number)
    assert set(eval(result.output.strip())) == {0, 1, 2, 3, 4}, result.output
    assert _zygote_pid(level) == before


@pytest.mark.parametrize("level", LEVELS)
def test_zygote_killed_mid_run_fails_that_sample_and_is_replaced(level: str, marker: str) -> None:
    before = _zygote_pid(level)
    killer = _when_sample_runs(marker, lambda: os.kill(before, signal.SIGKILL))
    result, elapsed = run_checked("import time\ntime.sleep(30)\n", level, marker, timeout=20.0)
    killer.join()
    assert result.status == "error" and "died during the run" in result.reason, result
    assert elapsed < 10
    assert _zygote_pid(level) != before


@pytest.mark.parametrize("level", LEVELS)
def test_zygote_dead_while_idle_is_replaced_without_failing_a_sample(
    level: str, marker: str
) -> None:
    before = _zygote_pid(level)
    os.kill(before, signal.SIGKILL)  # no waiting: the next run may find it half gone
    result, _ = run_checked("pass", level, marker)
    assert result.passed, result
    assert _zygote_pid(level) != before


@pytest.mark.parametrize("level", LEVELS)
def test_frozen_zygote_is_killed_and_the_sample_times_out(
    level: str, marker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "ANSWER_GRACE_S", 0.5)
    frozen = _zygote_pid(level)
    stopper = _when_sample_runs(marker, lambda: os.kill(frozen, signal.SIGSTOP))
    result, elapsed = run_checked("import time\ntime.sleep(30)\n", level, marker, timeout=0.5)
    stopper.join()
    assert result.status == "timeout" and "did not answer" in result.reason, result
    assert elapsed < 5
    assert _dead(frozen)


def _dead(pid: int) -> bool:
    """Whether `pid` is gone or a zombie (waiting for whoever reaps orphans), within a second."""
    stat = Path(f"/proc/{pid}/stat")
    for _ in range(100):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("level", LEVELS)
def test_nothing_of_a_sample_reaches_the_next(level: str, marker: str) -> None:
    leave = (
        "import ctypes, os, subprocess, sys, time\n"
        "open('left.txt', 'w').write('x')\nopen('/tmp/left.txt', 'w').write('x')\n"
        "assert ctypes.CDLL(None).shmget(4242, 4096, 0o1666) >= 0  # IPC_CREAT\n"
        f"subprocess.Popen({SLEEPER}, start_new_session=True)\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n"
        "    os._exit(0)\n"
    )
    result, _ = run_checked(leave, level, marker)
    assert result.passed, result
    check = (
        "import ctypes, os\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "assert pids == [1, os.getpid()], pids\n"
        "assert os.listdir('.') == [] and os.listdir('/tmp') == ['work'], os.listdir('/tmp')\n"
        "assert ctypes.CDLL(None).shmget(4242, 0, 0) == -1, 'shared memory survived'\n"
    )
    result, _ = run_checked(check, level, marker)
    assert result.passed, result


@pytest.mark.parametrize("level", LEVELS)
def test_every_process_of_a_sample_carries_its_marker(level: str, marker: str) -> None:
    # What makes the survivor checks meaningful: forked and executed processes alike are seen.
    program = (
        f"import os, subprocess, sys, time\nsubprocess.Popen({SLEEPER})\n"
        "os.fork()\ntime.sleep(60)\n"
    )
    seen: list[int] = []

    def count() -> None:
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            seen[:] = reaper.marked_processes(marker)
            time.sleep(0.01)

    counter = _when_sample_runs(marker, count)
    result, _ = run_checked(program, level, marker, timeout=2.0)
    counter.join()
    assert result.status == "timeout", result
    assert len(seen) == 3, seen  # the sample, its forked copy and `sleep`


@pytest.mark.parametrize("level", LEVELS)
def test_a_killed_scorer_leaves_no_sample_running(level: str, marker: str) -> None:
    # The marker goes in on stdin: in the scorer's command line it would mark the scorer.
    scorer = subprocess.Popen([sys.executable, "-c", (
        "from codesweep.execution import run_program, runner\nmarker = input()\n"
        "runner.new_marker = lambda: marker\n"
        f"run_program('import time\\ntime.sleep(60)', timeout=30, level={level!r})\n"
    )], stdin=subprocess.PIPE, text=True)
    scorer.stdin.write(marker + "\n")
    scorer.stdin.close()
    try:
        _when_sample_runs(marker, lambda: None).join()
        assert reaper.marked_processes(marker), "the sample never started"
    finally:
        scorer.kill()
        scorer.wait()
    deadline = time.monotonic() + 5
    while reaper.marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reaper.marked_processes(marker) == []
