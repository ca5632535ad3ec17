"""Atomic output directories and Parquet datasets that are always readable, even when empty."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from codesweep.fileio import staging_name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(parent: Path) -> None:
    """Delete staging dirs left by killed runs (their pid is in the name and no longer alive)."""
    if not parent.is_dir():
        return
    for entry in parent.glob(".*.tmp-*"):
        pid_text = entry.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """A fresh sibling of `final` to write into; removed if the block raises."""
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(final.parent)
    staging = staging_name(final)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish(staging: Path, final: Path) -> None:
    """Rename the finished staging dir onto `final` (replacing an old one: --force)."""
    if final.exists():
        retired = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        final.rename(retired)
        staging.rename(final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(final)


def parquet_files(directory: Path) -> list[Path]:
    """The Parquet parts of a dataset directory, sorted."""
    return sorted(directory.glob("*.parquet")) if directory.is_dir() else []


def ensure_readable(directory: Path, schema: pa.Schema) -> None:
    """Give a dataset directory with no parts one empty part, so pandas can still read it."""
    if not parquet_files(directory):
        directory.mkdir(parents=True, exist_ok=True)
        pq.write_table(schema.empty_table(), directory / "empty.parquet")

