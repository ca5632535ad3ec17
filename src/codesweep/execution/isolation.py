"""Which isolation this machine allows, chosen once per process, with a warning when weak.

namespaces  (root + util-linux `unshare` + Linux >= 5.12): new network, mount, PID, IPC and
            UTS namespaces; a fresh read-only root holding only the interpreter, its standard
            library, the libraries it loads and a few devices (no /home, /root, /srv, /opt,
            /var/tmp, project checkout, virtualenv or host Unix socket; abstract sockets are
            per network namespace); a private size-capped tmpfs as scratch; the sample runs
            under a dedicated unprivileged uid, so rlimits (process count included) bind
            and no capability is left to undo this; every process of the sample dies with
            its run.
userns      (no root, but unprivileged user namespaces + `unshare`): the same namespaces,
            read-only root, hidden homes and private scratch, entered through a user
            namespace, with the same minimal root; the sample runs as the invoking user (root
            inside the namespace) with every capability dropped and no way to regain one
            (empty bounding set, no new privileges). Weaker than namespaces because the
            sample keeps the user's own uid, so it warns.
rlimits     (anything else): rlimits, an own session, a scrubbed environment, a temporary
            working directory, and a Python audit hook that refuses process creation,
            signals, sockets, ctypes, writes outside the working directory and reads outside
            it and the standard library. An audit hook is not a security boundary, so
            choosing this level warns.

namespaces and userns run samples in long-lived per-slot zygotes (`codesweep.execution.zygote`).
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
import sys
import warnings

NAMESPACES = "namespaces"
USERNS = "userns"
RLIMITS = "rlimits"
LEVELS = (NAMESPACES, USERNS, RLIMITS)  # strongest first
ZYGOTE_LEVELS = (NAMESPACES, USERNS)
UNSHARE_ARGS = ("--net", "--mount", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
                "--mount-proc")
USERNS_ARGS = ("--user", "--map-root-user")
SANDBOX_UID_BASE = 61000  # one uid per concurrent slot: RLIMIT_NPROC counts per uid


class SandboxWarning(UserWarning):
    """The sandbox runs with weaker isolation than the strongest level."""


def command_prefix(level: str) -> list[str]:
    """What goes before the interpreter on the child's command line."""
    unshare = shutil.which("unshare") or "unshare"
    if level == NAMESPACES:
        return [unshare, *UNSHARE_ARGS]
    if level == USERNS:
        return [unshare, *USERNS_ARGS, *UNSHARE_ARGS]
    return []


DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
PT_INTERP = 3
LOADER_CACHE = "/etc/ld.so.cache"  # where the dynamic loader looks libraries up


def standard_library() -> str:
    """The interpreter's own standard library directory (not a virtualenv's)."""
    return os.path.realpath(os.path.dirname(os.__file__))


def root_view() -> dict[str, list[str]]:
    """What the sample's fresh root holds (`keep`, read-only) and which of it is emptied
    (`cover`: installed packages are not the standard library). The zygote adds the
    directories of the libraries the interpreter has mapped."""
    stdlib = standard_library()
    loader = _elf_interpreter(os.path.realpath(sys.executable))
    return {"keep": [stdlib, *DEVICES, LOADER_CACHE,
                     *([os.path.realpath(os.path.dirname(loader))] if loader else [])],
            # the interpreter's binary at the path the sample knows it by (sys.executable)
            "executable": [sys.executable, os.path.realpath(sys.executable)],
            "cover": [os.path.join(stdlib, "site-packages"), os.path.join(stdlib, "dist-packages")]}


def interpreter_directories() -> list[str]:
    """Directories the child's interpreter reads its standard library from."""
    return sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)})


def _elf_interpreter(binary: str) -> str | None:
    """The dynamic loader a 64-bit little-endian ELF binary names (PT_INTERP), if any: what
    a sample needs to start the interpreter again (e.g. /lib64/ld-linux-x86-64.so.2)."""
    try:
        with open(binary, "rb") as elf:
            head = elf.read(1 << 16)
    except OSError:
        return None
    if head[:5] != b"\x7fELF\x02" or head[5] != 1:
        return None
    offset, = struct.unpack_from("<Q", head, 0x20)
    size, count = struct.unpack_from("<HH", head, 0x36)
    for entry in range(offset, offset + size * count, size):
        kind, = struct.unpack_from("<I", head, entry)
        if kind == PT_INTERP:
            start, = struct.unpack_from("<Q", head, entry + 8)
            length, = struct.unpack_from("<Q", head, entry + 32)
            return head[start:start + length].rstrip(b"\0").decode()
    return None


def _namespaces_unavailable() -> str | None:
    """Why the namespaces level cannot work here, or None when it may."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "not running as root (the sandbox needs root to drop samples to their own uid)"
    if shutil.which("unshare") is None:
        return "util-linux `unshare` not found"
    return None


def _user_namespaces_unavailable() -> str | None:
    """Why the userns level cannot work here, or None when it may."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if shutil.which("unshare") is None:
        return "util-linux `unshare` not found"
    return None


@functools.lru_cache(maxsize=1)
def detect() -> str:
    """The strongest level that works on this machine, proven by running a probe sample."""
    from codesweep.execution.runner import probe

    reasons: list[str] = []
    for level, unavailable in ((NAMESPACES, _namespaces_unavailable),
                               (USERNS, _user_namespaces_unavailable)):
        reason = unavailable() or probe(level)
        if reason is None:
            if reasons:
                _warn(f"sandbox: {reasons[0]}; running generated code in user namespaces "
                      "(no network, read-only filesystem, own processes) as your own user id "
                      "without capabilities, not under a separate unprivileged uid")
            return level
        reasons.append(reason if level == NAMESPACES else f"user namespaces: {reason}")
    _warn(f"sandbox: Linux namespaces unavailable ({'; '.join(reasons)}); running generated "
          "code with rlimits and a Python audit hook only, which a determined program can "
          "bypass (no private filesystem view: host files are guarded by the hook alone)")
    return RLIMITS


def _warn(message: str) -> None:
    warnings.warn(message, SandboxWarning, stacklevel=4)  # at the caller of run_samples
