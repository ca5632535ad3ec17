"""`codesweep evaluate`: score a run's base model and checkpoints on an evaluation suite."""

from __future__ import annotations

from pathlib import Path

import typer

from codesweep.cli.options import RUN


def evaluate_command(suite: Path = typer.Argument(..., help="evaluation suite (YAML)"),
                     run: Path = RUN) -> None:
    """Score the base model and every trial checkpoint of a run on an evaluation suite."""
    from codesweep.cli.console import ConsoleProgress, console
    from codesweep.cli.tables import summary_table
    from codesweep.experiment import evaluate
    summary = evaluate(run.resolve(), suite.resolve(), ConsoleProgress())
    console.print(summary_table(summary))
