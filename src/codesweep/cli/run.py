"""`codesweep run`: every part of an experiment in order, each reused when unchanged."""

from __future__ import annotations

from pathlib import Path

import typer

from codesweep.cli.options import CACHE, OVERRIDES, RECIPE, RUN_DIR, TRACKING


def run_command(recipe: Path = RECIPE, override: list[str] = OVERRIDES,
                run_dir: Path | None = RUN_DIR, cache_dir: Path | None = CACHE,
                tracking_uri: str | None = TRACKING,
                force: bool = typer.Option(False, help="rebuild the prepared data")) -> None:
    """All stages: prepare -> base model -> sweep -> evaluate -> report; unchanged stages reuse."""
    from codesweep.cli.console import ConsoleProgress, console
    from codesweep.cli.tables import render_leaderboard
    from codesweep.errors import CodesweepError
    from codesweep.experiment import evaluate, load_experiment, set_up, sweep
    from codesweep.report import build_report

    progress = ConsoleProgress()
    exp = load_experiment(recipe, override, run_dir, cache_dir)
    run = set_up(exp, tracking_uri, progress, force)
    if not run.eval:
        raise CodesweepError(f"{recipe}: eval: is not set; `run` needs an evaluation suite")
    sweep(exp, run, progress, on_trials=progress.trials)
    evaluate(exp.run_dir, Path(run.eval), progress)
    with progress.status("report: leaderboard and plots"):
        board = build_report(exp.run_dir)
    progress.line(f"report: {exp.run_dir}/report/leaderboard.md")
    render_leaderboard(console, board)
    # soft_wrap: a command to copy is never broken over two lines by us
    console.print(f"MLflow: mlflow ui --backend-store-uri {run.tracking_uri}",
                  highlight=False, soft_wrap=True)
