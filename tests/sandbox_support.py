"""Shared by the sandbox tests: small limits and a run that checks for surviving processes."""

from __future__ import annotations

import time

from codesweep.execution import ExecResult, Limits, reaper, run_program

SMALL = Limits(memory_mb=256, processes=16, file_mb=1, open_files=64, scratch_mb=8)


def run_checked(program: str, level: str, marker: str,
                timeout: float = 2.0) -> tuple[ExecResult, float]:
    """Run one program; fail if any process of it outlived the run; return (result, seconds)."""
    start = time.monotonic()
    result = run_program(program, timeout=timeout, limits=SMALL, level=level)
    assert reaper.marked_processes(marker) == [], "a sample process outlived the run"
    return result, time.monotonic() - start
