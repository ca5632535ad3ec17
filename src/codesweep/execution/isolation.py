"""Which isolation this machine allows, chosen once per process, with a warning when weak.

namespaces  (root + util-linux `unshare` + Linux >= 5.12): new network, mount, PID, IPC and
            UTS namespaces; a read-only root filesystem; /root and /home hidden; a private
            size-capped tmpfs as scratch; the sample runs under a dedicated unprivileged uid,
            so rlimits (process count included) bind and no capability is left to undo this;
            every process of the sample dies with its run.
userns      (no root, but unprivileged user namespaces + `unshare`): the same namespaces,
            read-only root, hidden homes and private scratch, entered through a user
            namespace; the sample runs as the invoking user (root inside the namespace) with
            every capability dropped and no way to regain one (empty bounding set, no new
            privileges). Weaker than namespaces because the sample keeps the user's own uid
            (it can read what that user can read outside the hidden homes), so it warns.
rlimits     (anything else): rlimits, an own session, a scrubbed environment, a temporary
            working directory, and a Python audit hook that refuses process creation,
            signals, sockets, ctypes and writes outside the working directory. An audit hook
            is not a security boundary, so choosing this level warns.

namespaces and userns run samples in long-lived per-slot zygotes (`codesweep.execution.zygote`).
"""

from __future__ import annotations

import functools
import os
import shutil
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

    reasons = []
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
          "bypass")
    return RLIMITS


def _warn(message: str) -> None:
    warnings.warn(message, SandboxWarning, stacklevel=4)  # at the caller of run_samples
