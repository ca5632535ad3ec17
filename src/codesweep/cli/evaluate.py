"""`codesweep evaluate`: score a run's base model and checkpoints on an evaluation suite."""

from __future__ import annotations

from pathlib import Path

import typer

from codesweep.cli.options import RUN, STORAGE


def evaluate_command(suite: Path = typer.Argument(..., help="evaluation suite (YAML)"),
                     run: str = RUN, storage: str | None = STORAGE) -> None:
    """Score the base model and every trial checkpoint of a run on an evaluation suite."""
    from codesweep.cli.console import ConsoleProgress, console
    from codesweep.cli.tables import summary_table
    from codesweep.experiment import evaluate, opened_run
    from codesweep.locks import run_dir_lock
    from codesweep.rundir import read_run

    progress = ConsoleProgress()
    with opened_run(run, storage) as location:
        read_run(location)  # a missing run dir is an error, not a new empty one
        with run_dir_lock(location, note=progress.line):
            # Ray starts only when something is left to score (evaluation.runner)
            summary = evaluate(location, suite.resolve(), progress)
    console.print(summary_table(summary))
