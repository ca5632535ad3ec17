"""`codesweep run`: every part of an experiment in order, each reused when unchanged."""

from __future__ import annotations

from pathlib import Path

import typer

from codesweep.cli.options import (
    CACHE,
    FIX_SEARCHED,
    OVERRIDES,
    RECIPE,
    RESTART,
    RUN_DIR,
    STORAGE,
    TRACKING,
    VERIFY,
)


def run_command(recipe: Path = RECIPE, override: list[str] = OVERRIDES,
                run_dir: Path | None = RUN_DIR, cache_dir: Path | None = CACHE,
                storage: str | None = STORAGE,
                tracking_uri: str | None = TRACKING,
                force: bool = typer.Option(False, help="rebuild the prepared data"),
                restart: bool = RESTART, fix_searched: bool = FIX_SEARCHED,
                verify: bool = VERIFY) -> None:
    """All stages: prepare -> base model -> sweep -> evaluate -> report; unchanged stages
    reuse, an interrupted sweep resumes."""
    from codesweep.cli.console import ConsoleProgress, console
    from codesweep.cli.tables import render_leaderboard
    from codesweep.errors import CodesweepError
    from codesweep.experiment import evaluate, load_experiment, locations, set_up, sweep
    from codesweep.locks import run_dir_lock
    from codesweep.report import build_report

    progress = ConsoleProgress()
    exp = load_experiment(recipe, override, run_dir, cache_dir, storage,
                          drop_searched=fix_searched, verify=verify)
    if not exp.recipe.eval:
        raise CodesweepError(f"{recipe}: eval: is not set; `run` needs an evaluation suite")
    with run_dir_lock(exp.run_dir, note=progress.line):
        run = set_up(exp, tracking_uri, progress, force)
        sweep(exp, run, progress, restart=restart)
        evaluate(exp.run_dir, Path(str(run.eval)), progress)
        render_leaderboard(console, build_report(exp.run_dir))
    for label, uri in locations(exp, run).items():
        console.print(f"{label + ':':15} {uri}", highlight=False)
    console.print(f"MLflow UI:      mlflow ui --backend-store-uri {run.tracking_uri}",
                  highlight=False)
