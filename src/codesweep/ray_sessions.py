"""Clean up the session directories that local Ray clusters leave behind.

Every local Ray start writes a session directory (logs, sockets, runtime resources; often
several MB) under Ray's temporary directory and never removes it. A command that starts its
own local cluster marks that cluster's session directory with a small file naming the
driver process; `clean_sessions` later removes marked sessions whose driver has ended and
whose processes (raylet, GCS, workers: each names the session in its command line) are all
gone, keeping the newest few for debugging. Unmarked sessions belong to someone else and are
never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from codesweep.locks import Holder

MARKER = "codesweep-driver.json"
KEEP_FINISHED = 3


def ray_temp_root() -> Path:
    """Where local Ray puts its sessions: `$RAY_TMPDIR/ray`, else `<system temp>/ray`."""
    return Path(os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()) / "ray"


def mark_session(session_dir: Path | None = None) -> Path:
    """Mark a session directory (default: the connected Ray's) as started by this process."""
    if session_dir is None:
        from ray._private import worker

        node = worker._global_node
        if node is None:
            raise RuntimeError("mark_session: Ray is not initialised in this process")
        session_dir = Path(node.get_session_dir_path())
    marker = Path(session_dir) / MARKER
    marker.write_text(json.dumps(asdict(Holder.me())))
    return marker


def clean_sessions(root: Path | None = None, keep: int = KEEP_FINISHED) -> list[Path]:
    """Remove finished sessions that this tool started, except the newest `keep`; return the
    removed directories."""
    finished = finished_sessions(root or ray_temp_root())
    doomed = finished[:-keep] if keep else finished
    for session in doomed:
        shutil.rmtree(session, ignore_errors=True)  # a file vanishing meanwhile is fine
    return [session for session in doomed if not session.exists()]


def finished_sessions(root: Path) -> list[Path]:
    """Marked sessions under `root` with no live driver or process, oldest first."""
    sessions = sorted(p for p in Path(root).glob("session_*")
                      if p.is_dir() and not p.is_symlink() and (p / MARKER).is_file())
    if not sessions:
        return []
    running = running_command_lines()
    return [session for session in sessions
            if _driver_ended(session) and not any(session.name in line for line in running)]


def running_command_lines() -> list[str]:
    """The command line of every process this user can see (Linux /proc)."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:  # ended while we looked, or not ours to read
                continue
            lines.append(raw.replace(b"\0", b" ").decode("utf-8", "replace"))
    return lines


def _driver_ended(session: Path) -> bool:
    try:
        driver = Holder(**json.loads((session / MARKER).read_text()))
    except (OSError, ValueError, TypeError):
        return False  # an unreadable marker: we cannot tell, so keep the session
    return driver.is_dead()
