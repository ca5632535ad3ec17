"""Full disks, read-only and forbidden directories as one-line errors, and writes that leave
either the whole new file or the old one, never half of one.

The CLI's error wrapper passes any exception to `resource_error`; a disk, permission or
MLflow-store failure comes back as a `CodesweepError` naming the path and what to do.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from codesweep.errors import CodesweepError

ADVICE = {
    errno.ENOSPC: "no space left on the device{free}; free some space there or point the run "
                  "directory or cache at a bigger disk",
    errno.EDQUOT: "disk quota exceeded{free}; free some space or use another directory",
    errno.EROFS: "the file system is read-only; use a writable run directory or cache",
    errno.EACCES: "permission denied; make it writable for this user or use another directory",
    errno.EPERM: "operation not permitted; make it writable for this user or use another "
                 "directory",
}
# sqlite (MLflow's default store) reports disk and permission trouble in words, not errno
SQLITE_ADVICE = {
    "database or disk is full": ADVICE[errno.ENOSPC],
    "attempt to write a readonly database": "the MLflow store is read-only; make it writable "
                                            "or pass another --tracking-uri",
    "unable to open database file": "the MLflow store cannot be opened (a missing or "
                                    "forbidden directory); fix it or pass another --tracking-uri",
}


def resource_error(exc: BaseException, path: Path | str | None = None,
                   path_wins: bool = False) -> CodesweepError | None:
    """A one-line error for a disk, permission or MLflow-store failure anywhere in `exc`'s
    chain of causes, naming the file (`path` when the error itself names none, or always
    with `path_wins`); else None."""
    for cause in _chain(exc):
        if isinstance(cause, OSError) and cause.errno in ADVICE:
            named = cause.filename if not (path and path_wins) else None
            where = str(named or path or "(unknown path)")
            advice = ADVICE[cause.errno].format(free=_free_space(where))
            return CodesweepError(f"{where}: {advice}")
        store_advice = _sqlite_advice(cause)
        if store_advice:
            return CodesweepError(f"{path or 'MLflow store'}: {store_advice.format(free='')}")
    return None


@contextmanager
def one_line_resource_errors(path: Path | str | None = None,
                             path_wins: bool = False) -> Iterator[None]:
    """Turn resource failures inside the block into one-line CodesweepErrors."""
    try:
        yield
    except Exception as exc:
        error = resource_error(exc, path, path_wins)
        if error is None:
            raise
        raise error from exc


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception behind it: causes, contexts, and a Ray task error's remote
    exception (RayTaskError keeps it as `cause`; Ray Data raises it `from` its own
    SystemException, so both links are followed)."""
    seen: set[int] = set()
    waiting: list[BaseException] = [exc]
    while waiting:
        current = waiting.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        remote = getattr(current, "cause", None)
        waiting += [linked for linked in (current.__cause__, remote, current.__context__)
                    if isinstance(linked, BaseException)]


def _sqlite_advice(exc: BaseException) -> str | None:
    # MLflow raises its own exception type around SQLAlchemy's around sqlite3's; the text
    # travels with each of them even where the chain of causes is cut
    if not isinstance(exc, sqlite3.Error) and "OperationalError" not in str(exc):
        return None
    text = str(exc)
    return next((advice for phrase, advice in SQLITE_ADVICE.items() if phrase in text), None)


def _free_space(path: Path | str) -> str:
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return ""
    return f" ({_size(free)} free)"


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.0f} {unit}"
        count /= 1024
    return f"{count:.0f} TiB"
