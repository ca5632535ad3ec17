"""Checks on the storage root before anything starts, each a one-line CodesweepError.

- `check_reachable`: the endpoint answers, the bucket exists, credentials are there and
  accepted (one request with a short timeout, no retries).
- `check_shared_across_nodes`: a local-disk root on a cluster of several nodes is refused,
  since the other nodes would each write to (and read from) their own disk.
- `check_not_in_job_package`: nothing goes into Ray's temporary job working directory.
"""

from __future__ import annotations

import os
import posixpath
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path

from pyarrow import fs as pafs

from codesweep.errors import CodesweepError
from codesweep.storage import FILESYSTEMS, SHARED_ENV, STORAGE_ENV, StorageRef

# Filesystem types (as /proc/mounts spells them) that every node of a cluster can mount.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "efs", "lustre", "glusterfs", "ceph", "beegfs",
    "gpfs", "orangefs", "wekafs",
})
JOB_PACKAGE_MARK = "/runtime_resources/working_dir_files/"
EC2_METADATA = ("169.254.169.254", 80)


def check_reachable(root: StorageRef, timeout_s: float = 5.0) -> None:
    """Fail now, naming the URI, when the root cannot be read: endpoint, bucket, credentials."""
    if root.is_local:
        _check_local_writable(root)
        return
    if root.scheme == "s3" and not aws_credentials_available():
        raise CodesweepError(
            f"storage {root.uri}: no AWS credentials found (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run on a node with an instance role)")
    bucket = root.path.split("/")[0]
    filesystem = FILESYSTEMS.get(root.scheme)(root.endpoint, timeout_s)
    try:
        found = filesystem.get_file_info(bucket)
    except OSError as exc:
        raise CodesweepError(f"storage {root.uri}: {_explain(exc, root)}") from exc
    if found.type == pafs.FileType.NotFound:
        raise CodesweepError(f"storage {root.uri}: bucket {bucket!r} does not exist"
                             f"{_at_endpoint(root)}")


def _explain(exc: OSError, root: StorageRef) -> str:
    """A short reason for a failed request: unreachable, credentials refused, or the error."""
    text = str(exc)
    if "NETWORK_CONNECTION" in text or "curlCode" in text or "Could not connect" in text:
        return f"endpoint unreachable{_at_endpoint(root)}"
    if any(word in text for word in ("ACCESS_DENIED", "InvalidAccessKeyId", "SignatureDoesNot",
                                     "403", "Forbidden")):
        return f"credentials refused{_at_endpoint(root)}"
    return text.splitlines()[0]


def _at_endpoint(root: StorageRef) -> str:
    return f" (endpoint {root.endpoint})" if root.endpoint else ""


def _check_local_writable(root: StorageRef) -> None:
    path = root.local_path()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CodesweepError(f"storage {root.uri} cannot be created: {exc.strerror}") from exc
    if not os.access(path, os.W_OK):
        raise CodesweepError(f"storage {root.uri} is not writable")


def aws_credentials_available(env: Mapping[str, str] | None = None,
                              home: Path | None = None) -> bool:
    """True when the AWS SDK's usual chain has something to use: env keys, a profile file,
    a web-identity or container token, or (unless disabled) the instance metadata service."""
    env = os.environ if env is None else env
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return True
    if any(env.get(name) for name in ("AWS_WEB_IDENTITY_TOKEN_FILE",
                                      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                      "AWS_CONTAINER_CREDENTIALS_FULL_URI")):
        return True
    home = home or Path.home()
    files = [env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials",
             env.get("AWS_CONFIG_FILE") or home / ".aws" / "config"]
    if any(Path(file).is_file() for file in files):
        return True
    if env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return False
    return _port_open(*EC2_METADATA, timeout_s=0.3)


def _port_open(host: str, port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def check_shared_across_nodes(root: StorageRef, nodes: Iterable[str],
                              mounts: str | None = None) -> None:
    """Refuse a local-disk root when the Ray cluster has more than one node.

    A local root is fine when marked shared or on a network filesystem per /proc/mounts.
    `nodes` are the alive nodes' addresses; `mounts` is /proc/mounts' text (read when None).
    """
    nodes = sorted(set(nodes))
    if not root.is_local or len(nodes) <= 1 or root.shared:
        return
    if on_network_filesystem(root.path, mounts):
        return
    raise CodesweepError(
        f"storage {root.uri} (from {root.origin}) is a local disk, but the Ray cluster has "
        f"{len(nodes)} nodes ({', '.join(nodes)}): set --storage or ${STORAGE_ENV} to an "
        f"s3:// or gs:// URI, or to a path every node mounts (then set {SHARED_ENV}=1)")


def on_network_filesystem(path: str, mounts: str | None = None) -> bool:
    """True when `path` (or its nearest existing parent) lies on a network filesystem."""
    if mounts is None:
        mounts = Path("/proc/mounts").read_text() if Path("/proc/mounts").is_file() else ""
    fstype = mount_type(_real_path(path), mounts)
    return fstype in NETWORK_FILESYSTEMS or fstype.startswith("fuse.")


def mount_type(path: str, mounts: str) -> str:
    """The filesystem type of the longest mount point holding `path` ('' when none)."""
    best, best_type = "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1]).rstrip("/") or "/"
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, fields[2]
    return best_type


def _unescape(field: str) -> str:
    """/proc/mounts writes spaces, tabs and backslashes in octal (\\040)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _real_path(path: str) -> str:
    """`path` with symlinks of its existing part resolved (the rest may not exist yet)."""
    head, tail = os.path.abspath(path), ""
    while not os.path.exists(head) and head != os.path.dirname(head):
        head, name = os.path.split(head)
        tail = posixpath.join(name, tail) if tail else name
    real = os.path.realpath(head)
    return posixpath.join(real, tail) if tail else real


def check_not_in_job_package(root: StorageRef) -> None:
    """Refuse a local root inside Ray's job package dir (evicted, rehashed on every edit)."""
    if root.is_local and JOB_PACKAGE_MARK in root.path + "/":
        raise CodesweepError(
            f"storage {root.uri} (from {root.origin}) is inside Ray's temporary job directory, "
            f"which is deleted and changes on every edit: set --storage or ${STORAGE_ENV} "
            "(e.g. s3://bucket/codesweep or a shared path)")
