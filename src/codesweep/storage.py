"""One storage root for everything a run writes and every Ray worker reads.

A `StorageRef` names a location by URI (`file:///abs/dir`, `s3://bucket/prefix`,
`gs://bucket/prefix`) plus what is needed to open it (an S3-compatible endpoint, whether a
local path is shared by every node). It is a small pydantic model, so it crosses process
boundaries (Ray tasks, actors, JSON records) unchanged; each process opens its own
`pyarrow.fs` filesystem from it, the layer Ray Train/Tune and Ray Data use for
`storage_path`/`filesystem`. Credentials are never part of a reference: every node reads them
from its own environment (AWS env vars, profile files, instance roles).

No `pathlib.Path` is ever built from a URI: `local_path()` refuses anything but `file://`;
`fetched()` gives loading code a node-local copy of a stored model directory. The stages'
own small files go through a local mirror of an object-store root (`codesweep.mirror`).

Where the root comes from, first match wins: `--storage URI`, `$CODESWEEP_STORAGE`, the
recipe's `storage:`, else the working directory, so that a laptop run keeps today's
`./.cache/codesweep` and `./runs/<name>` (see `CACHE_DIR`, `RUNS_DIR`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import posixpath
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pyarrow import fs as pafs
from pydantic import BaseModel, ConfigDict, model_validator

from codesweep.errors import CodesweepError
from codesweep.registry import Registry

CACHE_DIR = ".cache/codesweep"  # prepared data and base models, under the root
RUNS_DIR = "runs"               # one directory per run, under the root
STORAGE_ENV = "CODESWEEP_STORAGE"
SHARED_ENV = "CODESWEEP_STORAGE_SHARED"
ENDPOINT_ENVS = ("CODESWEEP_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


class StorageSetting(BaseModel):
    """The `storage:` value of a recipe: a URI string, or a mapping with options."""

    model_config = ConfigDict(extra="forbid")

    uri: str
    shared: bool = False          # a local path mounted on every node (NFS, EFS, ...)
    endpoint: str | None = None   # S3-compatible server, e.g. http://minio:9000

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"uri": value} if isinstance(value, str) else value


class StorageRef(BaseModel):
    """A file or directory in storage: URI plus how to open it. Immutable and serialisable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    endpoint: str | None = None
    shared: bool = False
    origin: str = "default"       # the setting this root came from, for error messages

    @model_validator(mode="after")
    def _known_scheme(self) -> StorageRef:
        scheme, _ = split_uri(self.uri)
        if scheme not in FILESYSTEMS.names():
            raise ValueError(FILESYSTEMS.unknown(scheme))
        return self

    def __str__(self) -> str:
        return self.uri

    @property
    def scheme(self) -> str:
        """`file`, `s3` or `gs`."""
        return split_uri(self.uri)[0]

    @property
    def path(self) -> str:
        """The location inside its filesystem: `/abs/dir` or `bucket/prefix`."""
        return split_uri(self.uri)[1]

    @property
    def is_local(self) -> bool:
        """True for a `file://` location (a local disk unless marked or mounted shared)."""
        return self.scheme == "file"

    @property
    def name(self) -> str:
        """The last component of the path."""
        return posixpath.basename(self.path.rstrip("/"))

    def child(self, *parts: str) -> StorageRef:
        """The location `parts` below this one (each part may hold `/`; no `..`)."""
        pieces = [piece for part in parts for piece in str(part).split("/") if piece]
        if any(piece in (".", "..") for piece in pieces) or any(
                str(part).startswith("/") for part in parts):
            raise CodesweepError(f"storage path {'/'.join(map(str, parts))!r} under {self.uri} "
                                 "must be relative, without '.' or '..'")
        uri = "/".join([self.uri.rstrip("/"), *pieces])
        return self.model_copy(update={"uri": uri})

    def local_path(self) -> Path:
        """This location as a local Path; an error for object-store URIs."""
        if not self.is_local:
            raise CodesweepError(f"{self.uri} is not a local path; read it through StorageRef")
        return Path(self.path)

    # -- filesystem access -------------------------------------------------------------

    def filesystem(self) -> pafs.FileSystem:
        """The `pyarrow.fs` filesystem for this location (one per process and endpoint)."""
        return open_filesystem(self.scheme, self.endpoint)

    def pyarrow_target(self) -> tuple[pafs.FileSystem, str]:
        """(filesystem, path) for `pyarrow.parquet`, `ray.data.read_*(..., filesystem=)`."""
        return self.filesystem(), self.path

    def ray_storage(self) -> dict[str, Any]:
        """Keyword arguments for `ray.train.RunConfig` / `ray.tune.RunConfig`."""
        if self.is_local:
            return {"storage_path": self.path}
        return {"storage_path": self.path, "storage_filesystem": self.filesystem()}

    def info(self) -> pafs.FileInfo:
        """pyarrow's FileInfo for this location (type NotFound when it does not exist)."""
        return self.filesystem().get_file_info(self.path)

    def exists(self) -> bool:
        """True when a file or directory is here (on object stores: an object or a prefix)."""
        return self.info().type != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        """True when this is a directory (on object stores: a prefix with objects)."""
        return self.info().type == pafs.FileType.Directory

    def read_bytes(self) -> bytes:
        """The whole file; FileNotFoundError names the URI when it is missing."""
        try:
            with self.filesystem().open_input_stream(self.path) as stream:
                return stream.read()
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{self.uri} does not exist") from exc

    def read_text(self) -> str:
        """The whole file decoded as UTF-8."""
        return self.read_bytes().decode("utf-8")

    def write_bytes(self, data: bytes) -> None:
        """Write the file atomically: readers see the old content or the new, never a part.

        Local: a temp file in the same directory, then a rename. Object stores: one PUT (or
        one multipart upload, completed in one call) is atomic by itself.
        """
        if self.is_local:
            _atomic_local_write(Path(self.path), data)
            return
        with self.filesystem().open_output_stream(self.path) as stream:
            stream.write(data)

    def write_text(self, text: str) -> None:
        """Write UTF-8 text atomically (see `write_bytes`)."""
        self.write_bytes(text.encode("utf-8"))

    def list(self, recursive: bool = False) -> list[str]:
        """Paths below this directory, relative to it and sorted; [] when it is missing."""
        selector = pafs.FileSelector(self.path, allow_not_found=True, recursive=recursive)
        base = self.path.rstrip("/") + "/"
        return sorted(entry.path[len(base):] for entry in
                      self.filesystem().get_file_info(selector))

    def files(self) -> dict[str, pafs.FileInfo]:
        """The files below this directory (recursively), keyed by their path relative to it;
        {} when it is missing. Directories (and object-store prefixes) are left out."""
        selector = pafs.FileSelector(self.path, allow_not_found=True, recursive=True)
        base = self.path.rstrip("/") + "/"
        return {entry.path[len(base):]: entry
                for entry in self.filesystem().get_file_info(selector)
                if entry.type == pafs.FileType.File}

    def make_dir(self) -> None:
        """Create this directory and its parents (on object stores: nothing to do)."""
        self.filesystem().create_dir(self.path, recursive=True)

    def delete_tree(self) -> None:
        """Delete this file or directory with everything below it; nothing if missing."""
        kind = self.info().type
        if kind == pafs.FileType.Directory:
            self.filesystem().delete_dir(self.path)
        elif kind == pafs.FileType.File:
            self.filesystem().delete_file(self.path)

    def upload_dir(self, local_dir: Path) -> None:
        """Replace this directory by a copy of `local_dir` (a model dir, a checkpoint).

        Local: copied next to the target, then renamed into place. Object stores: each file
        is one atomic PUT; the directory as a whole is not, so callers that need that write
        a small marker file last and check it before reading.
        """
        if self.is_local:
            _replace_local_dir(Path(local_dir), Path(self.path))
            return
        self.delete_tree()
        pafs.copy_files(str(Path(local_dir).resolve()), self.path,
                        source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=self.filesystem())

    def download_dir(self, local_dir: Path) -> Path:
        """Copy this directory into `local_dir` (created); return `local_dir`."""
        if not self.is_dir():
            raise FileNotFoundError(f"{self.uri} is not a directory")
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        pafs.copy_files(self.path, str(Path(local_dir).resolve()),
                        source_filesystem=self.filesystem(),
                        destination_filesystem=pafs.LocalFileSystem())
        return Path(local_dir)

    @contextlib.contextmanager
    def local_copy(self) -> Iterator[Path]:
        """A local directory holding this one: itself when local, else a temporary download."""
        if self.is_local:
            yield Path(self.path)
            return
        with tempfile.TemporaryDirectory(prefix="codesweep-download-") as scratch:
            yield self.download_dir(Path(scratch) / self.name)

    @contextlib.contextmanager
    def staged_upload(self) -> Iterator[Path]:
        """A local temp directory to fill; uploaded here when the block ends without error."""
        with tempfile.TemporaryDirectory(prefix="codesweep-upload-") as scratch:
            yield Path(scratch)
            self.upload_dir(Path(scratch))


def fetched(location: str | None) -> str | None:
    """A location that loading code can open as a local path: plain paths, `file://` URIs
    and hub ids as they are; an object-store directory (a base model, a checkpoint) is
    downloaded once per node into the temp dir and that copy's path returned.

    Each Ray worker calls this itself, so no process receives another node's local path.
    What is cached is immutable once written (a base lies under its content key, Ray never
    rewrites a `checkpoint_*`), so a copy under the URI's hash stays right.
    """
    if location is None or "://" not in location:
        return location
    ref = ref_for(location)
    if ref.is_local:
        return ref.path
    target = Path(tempfile.gettempdir()) / "codesweep-fetched" / _uri_key(ref.uri) / ref.name
    if not target.is_dir():
        staging = target.with_name(f".{ref.name}.{uuid.uuid4().hex[:8]}.tmp")
        ref.download_dir(staging)
        with contextlib.suppress(OSError):  # another process of this node got there first
            os.replace(staging, target)
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def _uri_key(uri: str) -> str:
    return hashlib.sha256(uri.encode()).hexdigest()[:16]


# -- URIs ---------------------------------------------------------------------------------


def split_uri(uri: str) -> tuple[str, str]:
    """(scheme, path in its filesystem) of a URI: `s3://b/p` -> ("s3", "b/p")."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise CodesweepError(f"storage location {uri!r} is not a URI (expected scheme://...)")
    scheme = scheme.lower()
    if scheme == "file":
        return scheme, posixpath.normpath(rest) if rest else "/"
    return scheme, rest.strip("/")


def to_uri(location: str, base_dir: str | None = None) -> str:
    """A URI for what a user typed: URIs stay as they are, plain paths become `file://` URIs.

    A string with a scheme but no `//` (`s3:/bucket`) is an error, never a local folder.
    """
    text = location.strip()
    if "://" in text:
        scheme, rest = split_uri(text)
        if scheme == "file":
            return "file://" + rest
        if not rest or text.partition("://")[2].startswith("/"):
            raise CodesweepError(f"storage URI {location!r} names no bucket")
        return f"{scheme}://{rest}"
    if _SCHEME.match(text):
        raise CodesweepError(f"storage location {location!r} looks like a URI but is malformed; "
                             "write scheme://bucket/prefix (schemes: "
                             f"{', '.join(FILESYSTEMS.names())}) or a local path")
    path = os.path.expanduser(text)
    absolute = os.path.abspath(os.path.join(base_dir or os.getcwd(), path))
    return "file://" + absolute


def plain_path(location: str | Path, setting: str) -> Path:
    """A setting that must be a local path (--run-dir, --cache-dir, run_dir:) as an absolute
    Path; a URI there is an error, never a local folder named `s3:`."""
    try:
        uri = to_uri(str(location))
    except CodesweepError as exc:  # `s3:/b` (a Path ate a slash): name the setting
        raise CodesweepError(f"{setting}: {exc}") from exc
    if not uri.startswith("file://"):
        raise CodesweepError(f"{setting}: {location} is a URI, but only a local path is "
                             "allowed here; put object-store locations in --storage")
    return Path(split_uri(uri)[1])


# -- resolution ---------------------------------------------------------------------------


def resolve_storage(cli: str | None = None, recipe: StorageSetting | str | None = None, *,
                    env: Mapping[str, str] | None = None, shared: bool = False,
                    cwd: str | None = None) -> StorageRef:
    """The storage root: `--storage` > `$CODESWEEP_STORAGE` > recipe `storage:` > cwd.

    A local root counts as shared (mounted on every node) when `shared` is passed, the recipe
    says `shared: true`, or `$CODESWEEP_STORAGE_SHARED=1`.
    """
    env = os.environ if env is None else env
    setting = StorageSetting.model_validate(recipe) if recipe is not None else None
    if cli:
        chosen, origin = StorageSetting(uri=cli), "--storage"
    elif env.get(STORAGE_ENV):
        chosen, origin = StorageSetting(uri=env[STORAGE_ENV]), f"${STORAGE_ENV}"
    elif setting is not None:
        chosen, origin = setting, "recipe storage:"
    else:
        chosen, origin = StorageSetting(uri="."), "default (the working directory)"
    uri = to_uri(chosen.uri, cwd)
    endpoint = (chosen.endpoint or _endpoint_from_env(env)) if uri.startswith("s3://") else None
    marked = shared or chosen.shared or env.get(SHARED_ENV, "").lower() in ("1", "true", "yes")
    return StorageRef(uri=uri, endpoint=endpoint, shared=marked, origin=origin)


def ref_for(location: str, like: StorageRef | None = None) -> StorageRef:
    """A StorageRef for a location a record holds: a plain path (older records) or a URI.

    The endpoint and shared flag come from `like` (the root the location lies under) when
    the scheme matches, else from this process's environment.
    """
    uri = to_uri(location)
    if like is not None and like.scheme == split_uri(uri)[0]:
        return like.model_copy(update={"uri": uri})
    endpoint = _endpoint_from_env(os.environ) if uri.startswith("s3://") else None
    return StorageRef(uri=uri, endpoint=endpoint, origin="record")


def reported_uri(path: str, store: StorageRef) -> str:
    """The URI of a path Ray reports inside `store`'s filesystem. With `storage_filesystem`
    set, Ray's `Checkpoint.path` on S3 is `bucket/prefix/...`: read as it is, that names a
    local directory that does not exist."""
    if "://" in path or store.is_local:
        return path
    return f"{store.scheme}://{path.lstrip('/')}"


def _endpoint_from_env(env: Mapping[str, str]) -> str | None:
    return next((env[name] for name in ENDPOINT_ENVS if env.get(name)), None)


# -- filesystems --------------------------------------------------------------------------

FILESYSTEMS: Registry[Callable[..., pafs.FileSystem]] = Registry("storage scheme")


@FILESYSTEMS.register("file")
def _local_filesystem(endpoint: str | None = None, timeout_s: float | None = None
                      ) -> pafs.FileSystem:
    return pafs.LocalFileSystem()


@FILESYSTEMS.register("s3")
def _s3_filesystem(endpoint: str | None = None, timeout_s: float | None = None
                   ) -> pafs.FileSystem:
    """S3 or an S3-compatible server; credentials and region come from the AWS environment."""
    options: dict[str, Any] = {}
    if endpoint:
        scheme, sep, host = endpoint.partition("://")
        options.update(endpoint_override=host if sep else endpoint,
                       scheme=scheme if sep else "https")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    if timeout_s is not None:  # the start-up check: fail fast, no retries
        options.update(connect_timeout=timeout_s, request_timeout=timeout_s,
                       retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1))
    return pafs.S3FileSystem(**options)


@FILESYSTEMS.register("gs")
def _gcs_filesystem(endpoint: str | None = None, timeout_s: float | None = None
                    ) -> pafs.FileSystem:
    options: dict[str, Any] = {}
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        options.update(endpoint_override=host, scheme=scheme)
    if timeout_s is not None:
        options["retry_time_limit"] = timeout_s
    return pafs.GcsFileSystem(**options)


@functools.lru_cache(maxsize=16)
def open_filesystem(scheme: str, endpoint: str | None = None) -> pafs.FileSystem:
    """The filesystem for a scheme and endpoint, opened once per process."""
    return FILESYSTEMS.get(scheme)(endpoint)


# -- local writes -------------------------------------------------------------------------


def _atomic_local_write(target: Path, data: bytes) -> None:
    """Write to a temp file beside `target`, then rename over it (atomic on POSIX)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _replace_local_dir(source: Path, target: Path) -> None:
    """Copy `source` beside `target`, then swap it into place; `target` is never half-written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    shutil.copytree(source, staging)
    old = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        shutil.rmtree(old)
