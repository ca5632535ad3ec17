"""`codesweep report`: the leaderboard of a run, printed and written to report/."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(run: Path = typer.Argument(..., help="run directory")) -> None:
    """Print the leaderboard and write report/ (Markdown and PNG plots) for a run."""
    from codesweep.cli.console import console
    from codesweep.cli.tables import render_leaderboard
    from codesweep.report import build_report

    render_leaderboard(console, build_report(run.resolve()))
