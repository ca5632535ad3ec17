"""Session clean-up on fake Ray session directories: only ours, only finished ones (driver
ended and no process naming the session), the newest few kept."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from codesweep import ray_sessions
from codesweep.locks import Holder


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def fake_session(root: Path, stamp: str, driver: Holder | None) -> Path:
    session = root / f"session_2026-12-01_{stamp}_000000_{1000 + len(list(root.iterdir()))}"
    (session / "logs").mkdir(parents=True)
    (session / "logs" / "raylet.out").write_text("x" * 1000)
    if driver is not None:
        ray_sessions.mark_session(session)
        (session / ray_sessions.MARKER).write_text(json.dumps(asdict(driver)))
    return session


def wait_for_exec(pid: int, text: str, timeout_s: float = 30.0) -> None:
    """Until the new process has exec'd: before that its command line is still pytest's."""
    deadline = time.monotonic() + timeout_s
    while text not in Path(f"/proc/{pid}/cmdline").read_bytes().decode():
        assert time.monotonic() < deadline, "the process did not start"
        time.sleep(0.01)


@pytest.fixture()
def ended() -> Holder:
    return replace(Holder.me(), pid=dead_pid(), pid_start=None)


def test_only_finished_sessions_of_ours_are_removed(tmp_path: Path, ended: Holder) -> None:
    finished = fake_session(tmp_path, "05-00-00", ended)
    not_ours = fake_session(tmp_path, "05-01-00", None)
    driver_alive = fake_session(tmp_path, "05-02-00", Holder.me())
    raylet_alive = fake_session(tmp_path, "05-03-00", ended)
    (tmp_path / "session_latest").symlink_to(raylet_alive)
    # a leftover process of that session (Ray's own name it in their command lines)
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                 f"--session-dir={raylet_alive}"])
    wait_for_exec(leftover.pid, raylet_alive.name)
    try:
        removed = ray_sessions.clean_sessions(tmp_path, keep=0)
    finally:
        leftover.kill()
        leftover.wait()
    assert removed == [finished]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [not_ours.name, driver_alive.name, raylet_alive.name, "session_latest"])
    assert ray_sessions.clean_sessions(tmp_path, keep=0) == [raylet_alive]  # now it is gone


def test_newest_finished_sessions_are_kept(tmp_path: Path, ended: Holder) -> None:
    sessions = [fake_session(tmp_path, f"05-0{minute}-00", ended) for minute in range(5)]
    assert ray_sessions.clean_sessions(tmp_path, keep=2) == sessions[:3]
    assert sorted(tmp_path.iterdir()) == sessions[3:]
    assert ray_sessions.clean_sessions(tmp_path, keep=2) == []


def test_unreadable_marker_keeps_the_session(tmp_path: Path) -> None:
    session = fake_session(tmp_path, "05-00-00", Holder.me())
    (session / ray_sessions.MARKER).write_text("not json")
    assert ray_sessions.clean_sessions(tmp_path, keep=0) == []


def test_temp_root_follows_ray_tmpdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    assert ray_sessions.ray_temp_root() == tmp_path / "ray"


def test_the_local_instances_own_workers_know_its_address(ray_session) -> None:
    """Ray's helpers inside the instance (Train's placement-group cleaner) find their
    cluster through RAY_ADDRESS when other instances run on the machine; the test
    session's instance is started as a command's local instance is."""
    @ray_session.remote(num_cpus=0)
    def seen_address() -> str | None:
        import os

        return os.environ.get("RAY_ADDRESS")

    assert ray_session.get(seen_address.remote()) == \
        ray_session.get_runtime_context().gcs_address
