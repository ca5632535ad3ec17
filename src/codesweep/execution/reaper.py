"""Find and kill every process that carries a sample's marker, wherever it has wandered.

A sample's processes inherit the marker in their command line (fork) or environment
(exec), so a double-forked daemon that left the process group is still found.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def marked_processes(marker: str) -> list[int]:
    """PIDs whose command line or environment contains `marker`."""
    needle, found = marker.encode(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        for name in ("cmdline", "environ"):
            try:
                if needle in (entry / name).read_bytes():
                    found.append(int(entry.name))
                    break
            except OSError:  # gone already, or not ours to read
                continue
    return found


def reap(marker: str, deadline_s: float = 5.0) -> int:
    """SIGKILL marked processes until none is left (or the deadline passes); how many were seen."""
    if not Path("/proc/self").exists():
        return 0  # no procfs (not Linux): the process-group kill is all we have
    seen: set[int] = set()
    stop = time.monotonic() + deadline_s
    while pids := marked_processes(marker):
        seen.update(pids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > stop:
            break
        time.sleep(0.005)
    return len(seen)
