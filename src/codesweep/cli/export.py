"""`codesweep export`: a trained checkpoint as a Hugging Face model directory."""

from __future__ import annotations

from pathlib import Path

import typer

from codesweep.cli.options import STORAGE


def export_command(run_dir: str = typer.Argument(..., help="run directory, or a run name"),
                   trial: str = typer.Option(..., "--trial", help="trial id (or train run name)"),
                   merge: bool = typer.Option(False, "--merge", help="fold the adapter in"),
                   out: Path = typer.Option(..., "--out", help="output model directory"),
                   storage: str | None = STORAGE,
                   step: int | None = typer.Option(
                       None, "--step", help="this training step's checkpoint (default: the "
                       "trial's best under the sweep metric)")) -> None:
    """Export a trial's checkpoint as a Hugging Face model directory (adapter or merged)."""
    from codesweep.cli.console import ConsoleProgress, console
    from codesweep.experiment import opened_run
    from codesweep.export import export_run

    with opened_run(run_dir, storage) as location:
        export_run(location, trial, out, merge, log=ConsoleProgress().line, step=step)
    console.print(f"exported {trial} ({'merged' if merge else 'adapter + base reference'}) "
                  f"to {out}")
