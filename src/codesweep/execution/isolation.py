"""Which isolation this machine allows, chosen once per process, with a warning when weak.

namespaces  (root + util-linux `unshare` + Linux >= 5.12): new network, mount, PID, IPC and
            UTS namespaces; a read-only root filesystem; /root and /home hidden; a private
            size-capped tmpfs as scratch; the sample runs under a dedicated unprivileged uid,
            so rlimits (process count included) bind and no capability is left to undo this;
            every process of the sample dies with the namespace.
rlimits     (anything else): rlimits, an own session, a scrubbed environment, a temporary
            working directory, and a Python audit hook that refuses process creation,
            signals, sockets, ctypes and writes outside the working directory. An audit hook
            is not a security boundary, so choosing this level warns.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import warnings

NAMESPACES = "namespaces"
RLIMITS = "rlimits"
LEVELS = (NAMESPACES, RLIMITS)
UNSHARE_ARGS = ("--net", "--mount", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
                "--mount-proc")
SANDBOX_UID_BASE = 61000  # one uid per concurrent slot: RLIMIT_NPROC counts per uid


class SandboxWarning(UserWarning):
    """The sandbox runs with weaker isolation than the strongest level."""


def command_prefix(level: str) -> list[str]:
    """What goes before the interpreter on the child's command line."""
    if level == NAMESPACES:
        return [shutil.which("unshare") or "unshare", *UNSHARE_ARGS]
    return []


def hidden_directories() -> list[str]:
    """Home directories to cover inside the sandbox (they hold the host's secrets)."""
    return [d for d in ("/root", "/home") if os.path.isdir(d)]


def interpreter_directories() -> list[str]:
    """Directories the child's interpreter reads its standard library from."""
    return sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)})


def _namespaces_unavailable() -> str | None:
    """Why the namespaces level cannot work here, or None when it may."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "not running as root (the sandbox needs root to drop samples to their own uid)"
    if shutil.which("unshare") is None:
        return "util-linux `unshare` not found"
    return None


@functools.lru_cache(maxsize=1)
def detect() -> str:
    """The strongest level that works on this machine, proven by running a probe sample."""
    from codesweep.execution.runner import probe

    reason = _namespaces_unavailable()
    if reason is None:
        reason = probe(NAMESPACES)
        if reason is None:
            return NAMESPACES
    warnings.warn(
        f"sandbox: Linux namespaces unavailable ({reason}); running generated code with "
        "rlimits and a Python audit hook only, which a determined program can bypass",
        SandboxWarning,
        stacklevel=3,
    )
    return RLIMITS
