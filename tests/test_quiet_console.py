"""Library notices stay off the terminal; library warnings become one line of ours."""

from __future__ import annotations

import logging
import warnings

import pytest
from rich.console import Console

from codesweep.cli import console as console_module


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Console:
    recording = Console(width=100, record=True, force_terminal=True)
    monkeypatch.setattr(console_module, "console", recording)
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
             for name in ("py.warnings",)}
    yield recording
    for name, (handlers, propagate) in saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate
    logging.captureWarnings(False)


def test_notices_silenced_and_warnings_one_line(terminal: Console) -> None:
    console_module.quiet_libraries()
    console_module.quiet_libraries()  # a second command in the same process adds nothing
    logging.getLogger("optuna.storages._in_memory").info("A new study created in memory")
    logging.getLogger("ray.data._internal.progress").warning("Progress bars disabled.")
    logging.getLogger(console_module.TOKEN_AUTH_LOGGER).warning(
        "Token authentication is disabled for this Ray cluster. Anyone with network access")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(False)  # pytest swaps showwarning per test: capture afresh
        logging.captureWarnings(True)
        warnings.warn("a library warning " + "x" * 500 + "\nsecond line", UserWarning,
                      stacklevel=1)
    lines = terminal.export_text().splitlines()
    assert lines[0] == console_module.TOKEN_AUTH_LINE
    assert "a library warning" in lines[1] and len(lines[1]) <= 100 and len(lines) == 2


@pytest.mark.parametrize(("columns", "width"), [(None, 100), ("120", 120)])
def test_a_log_or_pipe_gets_100_columns_not_80(columns: str | None, width: int) -> None:
    """`codesweep run > log 2>&1` has no terminal: rich would assume 80 columns and wrap the
    leaderboard's cells mid-word ("stoppe" / "d"); an explicit $COLUMNS still wins."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    shown = subprocess.run(
        [sys.executable, "-c", "from codesweep.cli.console import console; print(console.width)"],
        env=env, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == str(width)
