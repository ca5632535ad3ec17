"""Corruption checks for cached outputs (prepared datasets, base models, checkpoints).

`record` writes down every file of a directory: its size, a checksum of its first and last
64 KiB, and (by default) a checksum of the whole file. `verify` compares a directory with such
a record: the cheap check (sizes and ends) reads at most 128 KiB per file, enough to catch a
truncated or half-copied file, which is how caches break in practice; `full=True` (the CLI's
`--verify`) reads every byte. Hidden files (staging files, locks) are not part of a record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENDS_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Mismatch:
    """One file that differs from its record."""

    path: str  # relative to the checked directory
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def record(directory: Path, exclude: tuple[str, ...] = (), full: bool = True,
           ) -> dict[str, dict[str, Any]]:
    """{relative path: {size, ends[, blake2b]}} for every file under `directory`, except
    hidden ones and the relative paths in `exclude` (e.g. the manifest that holds the record).
    """
    return {name: _fingerprint(path, full) for name, path in _files(directory, exclude)}


def verify(directory: Path, recorded: dict[str, dict[str, Any]], exclude: tuple[str, ...] = (),
           full: bool = False) -> list[Mismatch]:
    """Files that are missing, unexpected, or differ from `recorded`; empty when all match."""
    present = dict(_files(directory, exclude))
    problems = [Mismatch(name, "missing") for name in sorted(set(recorded) - set(present))]
    problems += [Mismatch(name, "not in the record (added later?)")
                 for name in sorted(set(present) - set(recorded))]
    for name in sorted(set(present) & set(recorded)):
        reason = _difference(present[name], recorded[name], full)
        if reason:
            problems.append(Mismatch(name, reason))
    return problems


def describe(directory: Path, problems: list[Mismatch], shown: int = 3) -> str:
    """One line: `<dir>: 2 files differ from their record (a: missing; b: size 10, recorded 20)`."""
    listed = "; ".join(str(problem) for problem in problems[:shown])
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    noun = "file differs" if len(problems) == 1 else "files differ"
    return f"{directory}: {len(problems)} {noun} from their record ({listed}{more})"


def _files(directory: Path, exclude: tuple[str, ...]) -> list[tuple[str, Path]]:
    directory = Path(directory)
    found = []
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        hidden = any(part.startswith(".") for part in path.relative_to(directory).parts)
        if path.is_file() and not hidden and name not in exclude:
            found.append((name, path))
    return found


def _fingerprint(path: Path, full: bool) -> dict[str, Any]:
    size = path.stat().st_size
    entry: dict[str, Any] = {"size": size, "ends": _ends_hash(path, size)}
    if full:
        entry["blake2b"] = _full_hash(path)
    return entry


def _difference(path: Path, expected: dict[str, Any], full: bool) -> str | None:
    size = path.stat().st_size
    if size != expected["size"]:
        return f"size {size} bytes, recorded {expected['size']}"
    if _ends_hash(path, size) != expected["ends"]:
        return "content changed (first or last 64 KiB)"
    if not full:
        return None
    if "blake2b" not in expected:
        return "no full checksum recorded, so it cannot be verified"
    if _full_hash(path) != expected["blake2b"]:
        return "content changed (full checksum)"
    return None


def _ends_hash(path: Path, size: int) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        digest.update(handle.read(ENDS_BYTES))
        if size > ENDS_BYTES:
            handle.seek(max(ENDS_BYTES, size - ENDS_BYTES))
            digest.update(handle.read(ENDS_BYTES))
    return digest.hexdigest()


def _full_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
