"""The one way files are written and read back: atomically (temporary sibling, then rename),
JSON and JSON Lines with one-line errors that name the file and line.

A crash or a kill mid-write never leaves half a file under the final name: readers see the old
content or the new, nothing in between.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from codesweep.errors import CodesweepError
from codesweep.resources import one_line_resource_errors


def staging_name(final: Path) -> Path:
    """A hidden sibling of `final`, unique to this process and call."""
    return final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """Call `write(temporary)` for a file or directory, then rename it onto `path`.

    `write` may create a file or a directory at the temporary path; if it raises, the
    temporary is removed and `path` is untouched."""
    path = Path(path)
    staging = staging_name(path)
    try:
        with one_line_resource_errors(path, path_wins=True):  # not the staging file's name
            path.parent.mkdir(parents=True, exist_ok=True)
            write(staging)
            os.replace(staging, path)
    except BaseException:
        _remove(staging)
        raise


def _remove(path: Path) -> None:
    # the write's own error is the one to report; a failed clean-up has the same cause
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())  # a crash after the rename must not leave an empty file


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    write_atomic(path, lambda staging: _write_synced(staging, text.encode("utf-8")))


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically; values JSON does not know (paths) are written as strings."""
    write_text(path, json.dumps(data, indent=2, default=str))


def read_json(path: Path, what: str) -> Any:
    """Read a JSON file, with a one-line error naming what is missing."""
    if not path.is_file():
        raise CodesweepError(f"{path}: no {what} here; run the earlier stage first")
    return json.loads(path.read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write one JSON object per line, atomically."""
    write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a .jsonl or .jsonl.gz file."""
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    yield number, _parse_line(path, number, line)
    except (OSError, UnicodeDecodeError) as exc:
        raise CodesweepError(f"{path}: cannot read ({exc})") from None


def _parse_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CodesweepError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise CodesweepError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
    return row
