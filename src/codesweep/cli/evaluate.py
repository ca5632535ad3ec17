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
    from codesweep.locks import run_dir_lock
    from codesweep.ray_runtime import ensure_ray
    from codesweep.rundir import read_run

    read_run(run.resolve())  # a missing run dir is an error, not a new empty one
    progress = ConsoleProgress()
    with run_dir_lock(run.resolve(), note=progress.line):
        ensure_ray()
        summary = evaluate(run.resolve(), suite.resolve(), progress)
    console.print(summary_table(summary))
