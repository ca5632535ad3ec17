"""The one console: human-readable output goes to stderr, so stdout stays for data (the JSON
of `codesweep score`). Stage lines carry the seconds since the command started; a sweep's
trials are one table redrawn in place."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live

if TYPE_CHECKING:
    from codesweep.tune.trial_board import TrialRow


def _width() -> int | None:
    # A log file or a pipe has no width, and rich then assumes 80 columns, which wraps the
    # leaderboard's cells mid-word; our tables are laid out for 100. A terminal, or an
    # explicit $COLUMNS, keeps its own width.
    if sys.stderr.isatty() or os.environ.get("COLUMNS"):
        return None
    return 100


console = Console(stderr=True, width=_width())


def verbose() -> bool:
    """True under `codesweep --verbose`: raw library logs and Tune's own tables instead."""
    return bool(os.environ.get("CODESWEEP_VERBOSE"))


class ConsoleProgress:
    """The experiment's Progress on the console: timed lines, a spinner while work runs, and
    the live trial table of a sweep (closed by the next line or spinner)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.live: Live | None = None
        self.last_trials: list[TrialRow] = []  # as last drawn: the timings table uses them

    def line(self, message: str) -> None:
        """Print one line as it is (paths and numbers are not highlighted)."""
        self.close_trials()
        console.print(f"[dim]{time.perf_counter() - self.start:6.1f}s[/] {message}",
                      highlight=False)

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        """A spinner with `message` while the block runs."""
        self.close_trials()
        with console.status(message):
            yield

    def trials(self, rows: list[TrialRow]) -> None:
        """Draw (or redraw in place) the sweep's trial table (not under --verbose, where
        Tune prints its own)."""
        if verbose():
            return
        from codesweep.cli.tables import trial_board_table

        self.last_trials = rows
        table = trial_board_table(rows)
        if self.live is None:
            self.live = Live(table, console=console, refresh_per_second=2, transient=False)
            self.live.start()
        else:
            self.live.update(table)

    def close_trials(self) -> None:
        """Leave the last drawn trial table on screen and stop redrawing it."""
        if self.live is not None:
            self.live.stop()
            self.live = None
            if not console.is_terminal:  # piped or recorded: the last frame ends mid-line
                console.line()


class StageClock:
    """Wall time per stage of a command, in the order the stages ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Time the block as `stage`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = time.perf_counter() - start


def timed_lines() -> Callable[[str], None]:
    """A progress callback that prefixes each line with the seconds since it was made."""
    start = time.perf_counter()

    def say(message: str) -> None:
        console.print(f"[dim]{time.perf_counter() - start:6.1f}s[/] {message}", highlight=False)

    return say


# Library notices that say nothing a researcher needs (each silenced below; --verbose keeps
# them): Ray Data's progress-bar hint, Optuna's study creation, MLflow's table creation,
# Ray Train's "Running in local mode".
QUIET_LOGGERS = ("ray.data._internal.progress", "optuna.storages._in_memory",
                 "mlflow.store.db.utils", "alembic", "ray.train.v2.api.config")
RAY_DATA_ERROR_LOGGERS = ("ray.data._internal.execution.streaming_executor_state",
                          "ray.data.exceptions")
TOKEN_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
TOKEN_AUTH_LINE = ("ray: token auth is off for this local instance: anyone reaching its ports "
                   "can run code")


class OneLineHandler(logging.Handler):
    """Python warnings as one dim line on our console (`warning: <first line>`), cut to the
    terminal's width; --verbose shows them in full."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().strip().splitlines()
        console.print(f"warning: {message[0] if message else ''}", style="dim", markup=False,
                      highlight=False, no_wrap=True, overflow="ellipsis")


def quiet_libraries() -> None:
    """Silence library notices, turn Ray's token-auth warning into one line of ours, and
    show Python warnings as one line each."""
    # Read when the libraries are imported, which every command does lazily, after this.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # "Writing model shards"
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" in sys.modules:  # imported before (a notebook, a test session): it has
        from transformers.utils import logging as hf_logging  # read the variables already

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger(TOKEN_AUTH_LOGGER).addFilter(_token_auth_in_our_words)
    # Ray Data logs a failed task's traceback before raising it; the command's own error
    # line says what failed (a full disk, say), and --verbose shows the traceback.
    for name in RAY_DATA_ERROR_LOGGERS:
        logging.getLogger(name).addFilter(_without_traceback)
    python_warnings = logging.getLogger("py.warnings")
    if not any(isinstance(h, OneLineHandler) for h in python_warnings.handlers):  # once
        python_warnings.addHandler(OneLineHandler(logging.WARNING))
    python_warnings.propagate = False
    logging.captureWarnings(True)  # warnings.warn -> the py.warnings logger


def _without_traceback(record: logging.LogRecord) -> bool:
    record.exc_info = record.exc_text = None
    return True


def _token_auth_in_our_words(record: logging.LogRecord) -> bool:
    """Logger filter (added once: the same function object is not added twice)."""
    if "disabled" in record.getMessage():
        console.print(f"[dim]{TOKEN_AUTH_LINE}[/]", highlight=False)
    return False  # Ray's own paragraph is not shown
