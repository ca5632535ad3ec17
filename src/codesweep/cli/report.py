"""`codesweep report`: the leaderboard of a run, printed and written to report/."""

from __future__ import annotations

import typer

from codesweep.cli.options import STORAGE


def report_command(run: str = typer.Argument(..., help="run directory, or a run name"),
                   storage: str | None = STORAGE) -> None:
    """Print the leaderboard and write report/ (Markdown and PNG plots) for a run."""
    from codesweep.cli.console import console
    from codesweep.cli.tables import render_leaderboard
    from codesweep.experiment import run_location
    from codesweep.report import build_report

    render_leaderboard(console, build_report(run_location(run, storage)))
