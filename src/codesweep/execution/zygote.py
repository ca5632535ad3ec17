"""Long-lived sandbox processes ("zygotes"), one per isolation level and worker slot.

Starting `unshare` and a fresh interpreter for every sample costs more than running most
samples. A zygote pays that once: it is started inside fresh namespaces with the filesystem
made read-only and the interpreter warm, then forks a child per sample (see
`codesweep.execution.harness.serve`). It is its namespace's PID 1, so it ends every process
a sample leaves before it answers, and everything in the namespace dies with it.

The scorer never trusts a zygote to be there: one that died (or hangs past its deadline) is
killed with its whole namespace, its run is reported as an error (or a timeout), and the
next run starts a new one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codesweep.execution import harness, isolation, reaper

HARNESS_SOURCE = Path(harness.__file__).read_text(encoding="utf-8")
START_TIMEOUT_S = 30.0  # interpreter start-up and namespace set-up, on a loaded machine
LOG_TAIL_BYTES = 1000


class ZygoteError(OSError):
    """A zygote could not be started."""


class ZygoteGone(OSError):
    """A zygote died before it took a job."""


@dataclass(frozen=True)
class Reply:
    """How a child ended, as its zygote saw it; `failure` when the zygote itself failed."""

    returncode: int
    timed_out: bool
    failure: str = ""


class Zygote:
    """One zygote process: `unshare` running the harness's `serve`, and its channel."""

    def __init__(self, level: str) -> None:
        self.owner = os.getpid()
        self.marker = f"codesweep-zygote-{secrets.token_hex(12)}"  # never a sample's marker
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the zygote)
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [*isolation.command_prefix(level), sys.executable, "-I", "-S", "-B", "-c",
                 HARNESS_SOURCE, "zygote", str(theirs.fileno()), self.marker],
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                pass_fds=(theirs.fileno(),), env=_environment(), cwd="/",
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.channel = ours
        self._handshake()

    def _handshake(self) -> None:
        config = isolation.root_view()
        try:
            harness.send_message(self.channel, config)
            reply = self._receive(START_TIMEOUT_S)
        except (OSError, ValueError) as exc:
            self.stop()
            raise ZygoteError(f"sandbox did not start: {exc}; {self.log_tail()}") from exc
        if "error" in reply:
            self.stop()
            raise ZygoteError(f"sandbox set-up failed: {reply['error']}")

    def alive(self) -> bool:
        """Whether this process started it and it is still running."""
        return self.owner == os.getpid() and self.process.poll() is None

    def run(self, job: dict, fds: list[int], wait_s: float,
            while_running: Callable[[], None] | None = None) -> Reply:
        """Run a job; a failure when the zygote died or hung after taking it.

        `while_running` is called once the zygote has taken the job (the trusted checker
        talks to the sample then); the reply is awaited even when it raises.
        Raises ZygoteGone when it died before taking the job: the job can go elsewhere.
        """
        try:
            harness.send_message(self.channel, job, fds)
            self._receive(START_TIMEOUT_S)  # {"taken": true}
        except (OSError, ValueError) as exc:
            self.stop()
            raise ZygoteGone(str(exc)) from exc
        if while_running is None:
            return self._reply(wait_s)
        try:
            while_running()
        finally:
            reply = self._reply(wait_s)
        return reply

    def _reply(self, wait_s: float) -> Reply:
        try:
            reply = self._receive(wait_s)
        except TimeoutError:
            self.stop()
            return Reply(-signal.SIGKILL, True, "the sandbox did not answer in time")
        except (OSError, ValueError) as exc:
            self.stop()
            return Reply(-signal.SIGKILL, False,
                         f"the sandbox process died during the run ({exc})")
        return Reply(reply["returncode"], reply["timed_out"])

    def _receive(self, seconds: float) -> dict:
        self.channel.settimeout(seconds)
        received = harness.receive_message(self.channel)
        if received is None:
            raise ConnectionError(f"it exited; {self.log_tail()}")
        return received[0]

    def stop(self) -> None:
        """Kill the zygote, and with it its namespace; then hunt down anything marked."""
        with contextlib.suppress(OSError):
            self.channel.close()
        if self.owner != os.getpid():
            return  # a forked copy of the scorer: the zygote is its parent's to stop
        if self.process.returncode is None:  # not reaped yet, so the group id is still ours
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # `unshare` and the zygote
        self.process.wait()
        reaper.reap(self.marker)  # forked children carry the zygote's command line

    def log_tail(self) -> str:
        """The end of what the zygote printed (a traceback when it crashed)."""
        size = self.log.seek(0, os.SEEK_END)
        self.log.seek(max(0, size - LOG_TAIL_BYTES))
        return self.log.read().decode(errors="replace").strip() or "no output"


def _environment() -> dict[str, str]:
    """A scrubbed environment, with room for each child to write its own marker into."""
    home = harness.NAMESPACE_SCRATCH
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home,
        "TMPDIR": home, "OMP_NUM_THREADS": "1",
        harness.MARKER_VARIABLE: "-" * (harness.MARKER_ROOM - 1),
    }


_zygotes: dict[tuple[str, int], Zygote] = {}
_locks: dict[tuple[str, int], threading.Lock] = {}
_pool_lock = threading.Lock()


def run_job(level: str, slot: int, job: dict, fds: list[int], wait_s: float,
            while_running: Callable[[], None] | None = None) -> Reply:
    """Run one job on the slot's zygote, starting one (again) when there is none alive."""
    key = (level, slot)
    with _pool_lock:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        try:
            return _current(key).run(job, fds, wait_s, while_running)
        except ZygoteGone:  # it died while idle (killed from outside): once more, afresh
            return _current(key).run(job, fds, wait_s, while_running)


def _current(key: tuple[str, int]) -> Zygote:
    zygote = _zygotes.get(key)
    if zygote is None or not zygote.alive():
        if zygote is not None:
            zygote.stop()
        zygote = _zygotes[key] = Zygote(key[0])
    return zygote


@atexit.register
def stop_all() -> None:
    """Stop every zygote this process started (they would also exit when it does)."""
    with _pool_lock:
        for zygote in list(_zygotes.values()):
            zygote.stop()
        _zygotes.clear()
