"""A local working copy of an object-store root, synced with it at stage boundaries.

The stages write their small files (run.json, sweep_state.json, trials.json, the evaluation
summary and rows, the report, the MLflow store) and build the prepared data and the tiny
base in a local directory. That is kept on local disk even when the storage root is
`s3://`/`gs://`, because an object store cannot hold them in place: `pyarrow.fs` has no
rename (so no atomic directory swap), no locks (the run-dir and dataset locks are files
hard-linked into place, `codesweep.locks`), and sqlite (the MLflow store) needs a local file
it can lock and seek in.

So a run on an object-store root works on a *mirror*: `$CODESWEEP_MIRROR`, else
`~/.cache/codesweep/mirror/<bucket>/<prefix>` (outside the working directory, so nothing a
run writes lands there or in a `ray job submit` package). `pull` fills it from the root
when a command starts (a rerun on another machine, or after a killed run, finds the
prepared data, the base, the sweep state and finished trials); `push` sends what changed
back after each stage. What Ray writes itself (Train checkpoints, Tune's experiment) never
goes through the mirror: it uses the root directly (`StorageRef.ray_storage`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pyarrow import fs as pafs

from codesweep.fileio import write_json
from codesweep.storage import CACHE_DIR, StorageRef

MIRROR_ENV = "CODESWEEP_MIRROR"
# Kept in storage by Ray itself, or only meaningful on this machine: never synced.
DIRECT_DIRS = ("train", "sweep")
LOCAL_ONLY = (".codesweep.lock",)
SYNCED = ".synced.json"  # in a synced directory: what was last pushed or pulled


def mirror_home(root: StorageRef) -> Path:
    """The local directory mirroring `root`: $CODESWEEP_MIRROR, else under ~/.cache."""
    if os.environ.get(MIRROR_ENV):
        return Path(os.environ[MIRROR_ENV]).expanduser().resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "codesweep" / "mirror" / root.scheme / root.path


@dataclass(frozen=True)
class Mirror:
    """The mirror of one run: its run directory and the cache, each with its place in storage."""

    root: StorageRef
    home: Path
    run_path: str  # the run directory relative to the root: runs/<name> or recipe run_dir:

    @property
    def run_dir(self) -> Path:
        """The local copy of the run directory."""
        return self.home / self.run_path

    @property
    def run_ref(self) -> StorageRef:
        """The run directory in storage."""
        return self.root.child(self.run_path)

    @property
    def cache_ref(self) -> StorageRef:
        """<root>/.cache/codesweep in storage."""
        return self.root.child(CACHE_DIR)

    @property
    def cache_dir(self) -> Path:
        """The local copy of <root>/.cache/codesweep."""
        return self.home / CACHE_DIR

    def in_storage(self, local: Path) -> StorageRef:
        """Where a file or directory of the mirror lives under the root."""
        relative = Path(local).resolve().relative_to(self.home)
        return self.root.child(relative.as_posix())

    def pull(self) -> None:
        """Bring the run directory (less what Ray keeps in storage) and the cache here."""
        self.pull_run()
        sync_down(self.cache_ref, self.cache_dir, skip=LOCAL_ONLY)

    def pull_run(self) -> None:
        """Bring the run directory here, less what Ray keeps in storage."""
        sync_down(self.run_ref, self.run_dir, skip=DIRECT_DIRS + LOCAL_ONLY)

    def push_run(self) -> None:
        """Send the run directory's new and changed files to storage."""
        sync_up(self.run_dir, self.run_ref, skip=DIRECT_DIRS + LOCAL_ONLY)

    def push_dir(self, local: Path) -> StorageRef:
        """Replace a finished directory of the cache (prepared data, a base) in storage,
        unless storage already holds the same files; return where it is."""
        target = self.in_storage(local)
        if _listing(local) != _remote_listing(target):
            target.upload_dir(local)
        return target


def sync_down(source: StorageRef, local: Path, skip: tuple[str, ...] = ()) -> None:
    """Download the files below `source` that are missing here or differ (size, or newer in
    storage); each copy takes the object's modification time and is noted as in sync."""
    filesystem = source.filesystem()
    synced = _read_synced(local)
    for relative, entry in source.files().items():
        if _skipped(relative, skip):
            continue
        target = local / relative
        if target.is_file() and target.stat().st_size == entry.size and \
                target.stat().st_mtime >= entry.mtime.timestamp():
            continue
        _download(filesystem, entry, target)
        synced[relative] = _stamp(target)
    _write_synced(local, synced)


def _download(filesystem: pafs.FileSystem, entry: pafs.FileInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.download")
    pafs.copy_files(entry.path, str(temp), source_filesystem=filesystem,
                    destination_filesystem=pafs.LocalFileSystem())  # streamed, not in memory
    stamp = entry.mtime.timestamp()
    os.utime(temp, (stamp, stamp))
    os.replace(temp, target)


def sync_up(local: Path, target: StorageRef, skip: tuple[str, ...] = ()) -> None:
    """Upload the files below `local` that changed since they were last synced.

    What was synced is noted locally (size and nanosecond mtime per file): object stores
    keep modification times to the second, too coarse to tell a file rewritten within the
    second of its upload (sweep_state.json is).
    """
    if not local.is_dir():
        return
    synced = _read_synced(local)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        relative = path.relative_to(local).as_posix()
        if _skipped(relative, skip) or path.name.startswith("."):
            continue  # dot files are temp files of atomic writes, locks, the sync note
        stamp = _stamp(path)
        if synced.get(relative) == stamp:
            continue
        target.child(relative).write_bytes(path.read_bytes())
        synced[relative] = stamp
        _write_synced(local, synced)  # after each file: a kill mid-push loses no note


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _read_synced(local: Path) -> dict[str, list[int]]:
    note = local / SYNCED
    return json.loads(note.read_text()) if note.is_file() else {}


def _write_synced(local: Path, synced: dict[str, list[int]]) -> None:
    write_json(local / SYNCED, synced)


def _skipped(relative: str, skip: tuple[str, ...]) -> bool:
    return relative.split("/", 1)[0] in skip


def _listing(local: Path) -> dict[str, int]:
    return {p.relative_to(local).as_posix(): p.stat().st_size
            for p in local.rglob("*") if p.is_file()}


def _remote_listing(target: StorageRef) -> dict[str, int]:
    """{relative path: size} of the files below `target` in storage."""
    return {relative: entry.size for relative, entry in target.files().items()}
