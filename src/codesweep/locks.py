"""One writer at a time: a lock file per run directory (and per dataset key being prepared).

The lock is a small JSON file naming its holder (pid, host, command, start time). It is
created by writing the holder's record to a private temporary file and hard-linking that
file to the lock's name: `link()` either creates the name or fails because it exists, and it
does so atomically on local file systems and on NFS (where `O_CREAT | O_EXCL` was not atomic
before NFSv3, and `flock()` is emulated with byte-range locks that depend on the lock daemon
and vanish silently when it restarts). The record is complete before the name appears, so a
reader never sees an empty lock. After an uncertain `link()` on NFS (a retried RPC can report
failure for a link that was made), the temporary file's link count tells the truth.

A lock whose holder is a dead process on this host is taken over, with a note. Taking over
is itself guarded by a second lock file, so two processes that both find the same stale lock
cannot both remove it (the second would remove the first one's new lock).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from codesweep.errors import CodesweepError

RUN_DIR_LOCK = ".codesweep.lock"
TAKEOVER_GUARD_TTL_S = 30.0  # a guard older than this was left by a process that died in it
_held: dict[Path, int] = {}  # lock path -> depth: a process may re-enter its own lock


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: written into the lock file, shown to the next writer."""

    pid: int
    host: str
    command: str
    started: str
    token: str
    pid_start: int | None = None  # the process's start time in clock ticks (pid reuse check)

    @classmethod
    def me(cls) -> Holder:
        """A record for this process."""
        return cls(pid=os.getpid(), host=socket.gethostname(), command=command_line(),
                   started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   token=uuid.uuid4().hex, pid_start=process_start(os.getpid()))

    def describe(self) -> str:
        """`pid 123 on host h (codesweep run x.yaml, since 2026-01-01T00:00:00Z)`."""
        return f"pid {self.pid} on host {self.host} ({self.command}, since {self.started})"

    def is_dead(self) -> bool:
        """True only when this host can tell the holder's process has ended."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return self.pid_start is not None and process_start(self.pid) != self.pid_start


def command_line() -> str:
    """This process's command as a user typed it (`codesweep run x.yaml`, not the path of
    the package's `__main__.py`)."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    program = "codesweep" if program in {"__main__.py", "codesweep"} else program
    return " ".join([program, *sys.argv[1:]])


def process_start(pid: int) -> int | None:
    """The start time of process `pid` in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ")"
    return int(stat.rsplit(")", 1)[1].split()[19])


@contextmanager
def hold(path: Path, what: str, note: Callable[[str], None] | None = None) -> Iterator[Holder]:
    """Hold the lock file `path` for the block; `what` names the guarded thing in errors.

    A second holder fails at once with one line naming the first; a dead holder's lock is
    taken over with a line to `note` (default: stderr). The same process may enter a lock it
    holds (a command calling another stage that takes the same lock).
    """
    path = Path(path).absolute()
    if path in _held:
        _held[path] += 1
        try:
            yield read_holder(path) or Holder.me()
        finally:
            _held[path] -= 1
        return
    me = acquire(path, what, note or _note_to_stderr)
    _held[path] = 1
    try:
        yield me
    finally:
        del _held[path]
        release(path, me)


def _note_to_stderr(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def run_dir_lock(run_dir: Path, note: Callable[[str], None] | None = None,
                 ) -> AbstractContextManager[Holder]:
    """The lock every command that writes `run_dir` holds."""
    return hold(Path(run_dir) / RUN_DIR_LOCK, f"run directory {run_dir}", note)


def dataset_lock(dataset_dir: Path, note: Callable[[str], None] | None = None,
                 ) -> AbstractContextManager[Holder]:
    """The lock `prepare` holds while it builds one dataset key (next to the key's directory,
    which may be built elsewhere and renamed into place)."""
    dataset_dir = Path(dataset_dir)
    return hold(dataset_dir.with_name(f".{dataset_dir.name}.lock"), f"dataset {dataset_dir}",
                note)


def acquire(path: Path, what: str, note: Callable[[str], None], attempts: int = 20) -> Holder:
    """Take the lock or raise a one-line CodesweepError naming its holder."""
    me = Holder.me()
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(attempts):
        if attempt:
            time.sleep(0.05)  # another process is between creating and taking over
        if _create(path, me):
            return me
        holder = read_holder(path)
        if holder is None:
            continue  # released (or being taken over) between our link and our read
        if not holder.is_dead():
            raise CodesweepError(_busy_message(path, what, holder))
        if _take_over(path, holder):
            note(f"{what}: took over the lock of {holder.describe()}, which is no longer "
                 "running")
    raise CodesweepError(f"{path}: could not take the lock of {what}; another process keeps "
                         "replacing it; try again")


def _busy_message(path: Path, what: str, holder: Holder) -> str:
    here = holder.host == socket.gethostname()
    advice = ("wait for it to finish or stop it" if here else
              f"wait for it to finish; if that process is gone, delete {path}")
    return f"{what} is in use by {holder.describe()}; {advice}"


def release(path: Path, me: Holder) -> None:
    """Remove the lock if it is still ours (never someone else's that took it over)."""
    holder = read_holder(path)
    if holder is not None and holder.token == me.token:
        path.unlink(missing_ok=True)


def read_holder(path: Path) -> Holder | None:
    """The lock's holder, None when there is no lock. An unreadable lock file is reported as
    held by an unknown process, never taken over: we cannot tell it is stale."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return Holder(**json.loads(text))
    except (ValueError, TypeError):
        return Holder(pid=-1, host="?", command=f"unreadable lock file {path}",
                      started="?", token="")


def _create(path: Path, holder: Holder) -> bool:
    """Atomically create `path` holding `holder`'s record; False when it exists already."""
    staging = path.with_name(f"{path.name}.{holder.token}.tmp")
    staging.write_text(json.dumps(asdict(holder)))
    try:
        os.link(staging, path)
        return True
    except FileExistsError:
        return False
    except OSError:
        # on NFS a link whose reply was lost reports an error: the link count knows
        return staging.stat().st_nlink == 2
    finally:
        staging.unlink(missing_ok=True)


def _take_over(path: Path, stale: Holder) -> bool:
    """Remove a dead holder's lock, unless another process is taking it over right now."""
    guard = path.with_name(f"{path.name}.takeover")
    if not _create(guard, Holder.me()):
        _clear_stale_guard(guard)
        return False
    try:
        current = read_holder(path)
        if current is None or current.token != stale.token:
            return False  # someone took it over (or it was released) since we read it
        path.unlink(missing_ok=True)
        return True
    finally:
        guard.unlink(missing_ok=True)


def _clear_stale_guard(guard: Path) -> None:
    try:
        age = time.time() - guard.stat().st_mtime
    except FileNotFoundError:
        return
    if age > TAKEOVER_GUARD_TTL_S:
        guard.unlink(missing_ok=True)
