"""Resolve recipe sources to file listings: local directories, the stdlib, git checkouts.

Listing is metadata only (paths and sizes), so it stays cheap on large repositories; file
contents are read later, in parallel, by the Ray Data read step. Directory symlinks are never
followed (no loops); file symlinks are kept only when they resolve inside the source root.

The listing streams: rows are written to an Arrow file in the temp dir `LISTING_CHUNK_FILES`
at a time (and a local source's files hashed for its revision chunk by chunk), so the
driver's memory does not grow with the number of files; readers memory-map the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import sysconfig
import tempfile
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from codesweep.config.pipeline import PipelineConfig, SourceConfig
from codesweep.errors import CodesweepError

STDLIB = "stdlib"
HASH_THREADS = 8  # threads hashing a local source's files for its revision
LISTING_CHUNK_FILES = 1024  # listing rows held (and hashed) at a time
LISTING_SCHEMA = pa.schema([("repo", pa.string()), ("path", pa.string()),
                            ("abspath", pa.string()), ("language", pa.string()),
                            ("size", pa.int64())])
# The stdlib's own test suites and third-party packages are not "the standard library".
STDLIB_EXCLUDES = ["site-packages/**", "dist-packages/**", "**/test/**", "**/tests/**",
                   "**/idle_test/**", "test/**", "tests/**", "idlelib/idle_test/**"]


@dataclass
class ResolvedSource:
    """A source ready to read: where its files are and what revision they come from."""

    name: str
    kind: str  # local | stdlib | git
    root: Path
    revision: str  # commit for git, else a hash of the listing
    location: str  # the path or URL as written in the recipe
    requested: str | None = None  # revision asked for (git)
    listing: Path | None = None  # Arrow file of the listing rows (LISTING_SCHEMA)
    count: int = 0  # files listed and kept
    bytes: int = 0  # their total size
    dropped: list[dict] = field(default_factory=list)  # exclusion rows found while listing

    def listing_table(self) -> pa.Table:
        """The listing rows, memory-mapped from the listing file (no copy in memory)."""
        if self.listing is None:
            return LISTING_SCHEMA.empty_table()
        return pa.ipc.open_file(pa.memory_map(str(self.listing))).read_all()

    @property
    def files(self) -> list[dict]:
        """The listing as row dicts, for small listings and reports; prepare streams it."""
        return self.listing_table().to_pylist()


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: `**/` spans zero or more directories, `*` and `?` stay in one."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            char = pattern[i]
            out.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches_any(path: str, patterns: list[str]) -> bool:
    """Whether a '/'-separated relative path matches one of the globs."""
    return any(glob_regex(p).match(path) for p in patterns)


def source_name(source: SourceConfig) -> str:
    """The repo name of a source: explicit, else the last part of its path or URL."""
    if source.name:
        return source.name
    if source.path == STDLIB:
        return "stdlib"
    last = (source.path or source.git or "").rstrip("/").split("/")[-1]
    return last.removesuffix(".git") or "source"


def local_root(source: SourceConfig, index: int, recipe_dir: Path) -> Path:
    """The directory of a local source, checked to exist."""
    if source.path == STDLIB:
        return Path(sysconfig.get_paths()["stdlib"])
    root = (recipe_dir / os.path.expanduser(source.path or "")).resolve()
    if not root.exists():
        raise CodesweepError(f"sources[{index}].path: {root} does not exist")
    if not root.is_dir():
        raise CodesweepError(f"sources[{index}].path: {root} is not a directory")
    return root


def include_globs(source: SourceConfig, config: PipelineConfig) -> list[str]:
    """The include globs: explicit, else one per extension of the language map."""
    return source.include or [f"**/*{ext}" for ext in sorted(config.languages)]


def exclude_globs(source: SourceConfig) -> list[str]:
    """The exclude globs, plus the stdlib's test and site-packages directories."""
    return source.exclude + (STDLIB_EXCLUDES if source.path == STDLIB else [])


def walk_candidates(root: Path, includes: list[str], excludes: list[str]):
    """Yield (relative path, absolute path) of files under root selected by the globs.

    Directory symlinks are listed by os.walk but not entered (followlinks=False), so a
    symlink loop cannot recurse; `.git` directories are pruned, and so are directories an
    exclude glob ending in `/**` takes whole: the standard library's listing walked 50,724
    files (site-packages, test suites) to keep 278, 2 s of the quickstart's prepare.
    """
    whole_dirs = [pattern for pattern in excludes if pattern.endswith("/**")]
    top = str(root)
    skip = len(os.path.join(top, ""))  # the root and its separator ("/" alone for "/")
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        # relative paths by slicing: os.path.relpath per file was most of the walk's time
        prefix = "" if dirpath == top else dirpath[skip:].replace(os.sep, "/") + "/"
        dirnames[:] = sorted(d for d in dirnames if d != ".git"
                             and not matches_any(f"{prefix}{d}/", whole_dirs))
        for filename in sorted(filenames):
            relative = prefix + filename
            if matches_any(relative, includes) and not matches_any(relative, excludes):
                yield relative, os.path.join(dirpath, filename)


def symlink_problem(absolute: str, root: Path) -> tuple[str, str] | None:
    """Why a file symlink cannot be read (escape, loop, broken), or None when it is safe."""
    try:
        target = Path(absolute).resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports loops this way
        return "symlink_loop", "symlink cycle"
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return "symlink_loop", "symlink cycle"
        return "symlink_broken", f"target missing: {os.readlink(absolute)}"
    if not target.is_relative_to(root.resolve()):
        return "symlink_escape", f"points outside the source: {target}"
    return None


def list_source(resolved: ResolvedSource, source: SourceConfig, config: PipelineConfig,
                hashed: bool = False) -> None:
    """Write the selected files of one source to its listing file (`.dropped` gets the
    exclusions); with `hashed`, set its revision from the listing's contents."""
    includes, excludes = include_globs(source, config), exclude_globs(source)
    handle, name = tempfile.mkstemp(prefix="codesweep-listing-", suffix=".arrow")
    os.close(handle)
    resolved.listing = Path(name)
    weakref.finalize(resolved, _unlink_quietly, name)
    digest = hashlib.sha256() if hashed else None
    chunk: list[dict[str, Any]] = []
    with pa.OSFile(name, "wb") as sink, pa.ipc.new_file(sink, LISTING_SCHEMA) as writer, \
            ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
        for relative, absolute in walk_candidates(resolved.root, includes, excludes):
            problem = listing_problem(absolute, resolved.root, relative, config)
            if problem:
                reason, detail = problem
                resolved.dropped.append({"repo": resolved.name, "path": relative,
                                         "reason": reason, "stage": "source", "detail": detail})
                continue
            chunk.append({
                "repo": resolved.name, "path": relative, "abspath": absolute,
                "language": config.languages[os.path.splitext(relative)[1]],
                "size": os.stat(absolute).st_size,
            })
            if len(chunk) == LISTING_CHUNK_FILES:
                _write_chunk(resolved, chunk, writer, digest, pool)
                chunk = []
        _write_chunk(resolved, chunk, writer, digest, pool)
    if digest is not None:
        resolved.revision = "listing-" + digest.hexdigest()[:16]


def _write_chunk(resolved: ResolvedSource, chunk: list[dict[str, Any]],
                 writer: pa.ipc.RecordBatchFileWriter, digest: Any | None,
                 pool: ThreadPoolExecutor) -> None:
    if not chunk:
        return
    if digest is not None:
        add_to_listing_hash(digest, chunk, pool)
    writer.write_table(pa.Table.from_pylist(chunk, schema=LISTING_SCHEMA))
    resolved.count += len(chunk)
    resolved.bytes += sum(int(row["size"]) for row in chunk)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def listing_problem(absolute: str, root: Path, relative: str,
                    config: PipelineConfig) -> tuple[str, str] | None:
    """Why a listed path is not a readable code file, or None."""
    extension = os.path.splitext(relative)[1]
    if extension not in config.languages:
        return "unknown_language", f"extension {extension or '(none)'!r} not in languages"
    if os.path.islink(absolute):
        problem = symlink_problem(absolute, root)
        if problem:
            return problem
    try:
        mode = os.stat(absolute).st_mode
    except OSError as exc:
        return "unreadable", exc.strerror or str(exc)
    if not stat.S_ISREG(mode):
        return "not_regular_file", "a device, pipe or socket"
    return None


def add_to_listing_hash(digest: Any, rows: list[dict[str, Any]],
                        pool: ThreadPoolExecutor) -> None:
    """Feed listing rows to a local listing's fingerprint: each file's path and the hash of
    its bytes, in listing order.

    Contents, not modification times or the root's location: a copy of the same files
    elsewhere (a `ray job submit` package directory, unpacked afresh with new times on each
    submission) gets the same fingerprint, and any edit, addition or removal changes it.
    Reading and hashing release the GIL: a few threads keep the disk and the cores busy.
    """
    hashes = pool.map(content_hash, [row["abspath"] for row in rows])
    for row, file_hash in zip(rows, hashes, strict=True):
        digest.update(f"{row['path']}\0{file_hash}\n".encode())


def content_hash(path: str) -> str:
    """The sha256 of a file's bytes; a file that cannot be opened counts as `unreadable`
    (the read step drops it with the reason, so the listing stays valid)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return "unreadable"
    return digest.hexdigest()


def resolve_sources(config: PipelineConfig, recipe_dir: Path,
                    cache_root: Path) -> list[ResolvedSource]:
    """Check, clone and list every source of a recipe; errors name the source index."""
    from codesweep.corpus.git import checkout

    resolved: list[ResolvedSource] = []
    for index, source in enumerate(config.sources):
        name = source_name(source)
        if any(other.name == name for other in resolved):
            raise CodesweepError(f"sources[{index}]: repo name {name!r} is already used by "
                                 "another source; give this one a distinct name:")
        if source.git:
            root, commit = checkout(source, index, cache_root / "git")
            item = ResolvedSource(name, "git", root, commit, source.git, source.revision)
        else:
            root = local_root(source, index, recipe_dir)
            kind = "stdlib" if source.path == STDLIB else "local"
            item = ResolvedSource(name, kind, root, "", str(source.path))
        list_source(item, source, config, hashed=not item.revision)
        resolved.append(item)
    return resolved
