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
