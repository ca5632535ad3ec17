"""Resource limits for every sample (setrlimit with hard = soft: the sample cannot raise them)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-sample limits. The wall-clock timeout is separate: the parent enforces it."""

    memory_mb: int = 1024  # address space; Python itself needs about 30 MB of it
    processes: int = 64  # per sandbox uid (per user namespace at userns); bounds fork bombs
    file_mb: int = 16  # largest file, captured stdout/stderr included
    open_files: int = 256
    scratch_mb: int = 64  # size of the private tmpfs scratch (namespaces mode)

    def rlimits(self, timeout: float) -> dict[str, int]:
        """setrlimit names and values; CPU time gets a second beyond the wall-clock timeout."""
        mb = 1024 * 1024
        return {
            "RLIMIT_AS": self.memory_mb * mb,
            "RLIMIT_CPU": math.ceil(timeout) + 1,
            "RLIMIT_NPROC": self.processes,
            "RLIMIT_FSIZE": self.file_mb * mb,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_CORE": 0,
        }
