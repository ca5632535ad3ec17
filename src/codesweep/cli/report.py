"""`codesweep report`: the leaderboard of a run, printed and written to report/."""

from __future__ import annotations

import typer

from codesweep.cli.options import STORAGE


def report_command(run: str = typer.Argument(..., help="run directory, or a run name"),
                   storage: str | None = STORAGE) -> None:
    """Print the leaderboard and write report/ (Markdown and PNG plots) for a run."""
    from codesweep.cli.console import console
    from codesweep.cli.tables import render_leaderboard
    from codesweep.experiment import opened_run
    from codesweep.report import build_report

    with opened_run(run, storage) as location:
        board = build_report(location)
    render_leaderboard(console, board)
