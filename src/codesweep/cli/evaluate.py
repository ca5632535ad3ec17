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
    from codesweep.experiment import connect, evaluate, run_location, storage_root

    progress = ConsoleProgress()
    connect(storage_root(storage), progress)
    summary = evaluate(run_location(run, storage), suite.resolve(), progress)
    console.print(summary_table(summary))
