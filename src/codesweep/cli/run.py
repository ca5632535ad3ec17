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
    from codesweep.cli.console import ConsoleProgress, StageClock, console
    from codesweep.cli.tables import print_examples, render_leaderboard, timings_table
    from codesweep.errors import CodesweepError
    from codesweep.experiment import (
        base_model,
        connect,
        evaluate,
        load_experiment,
        locations,
        log_report,
        prepare_data,
        record_run,
        sweep,
    )
    from codesweep.locks import run_dir_lock
    from codesweep.report import build_report, example_completions
    from codesweep.tracking import runs_table_url

    progress, clock = ConsoleProgress(), StageClock()
    exp = load_experiment(recipe, override, run_dir, cache_dir, storage,
                          drop_searched=fix_searched, verify=verify)
    if not exp.recipe.eval:
        raise CodesweepError(f"{recipe}: eval: is not set; `run` needs an evaluation suite")
    with run_dir_lock(exp.run_dir, note=progress.line):
        with clock("ray start"):
            connect(exp.root, progress)  # data preparation runs on Ray Data
        with clock("prepare"):
            prepared = prepare_data(exp, progress, force=force)
        with clock("base model"):
            base_path = base_model(exp, prepared, progress)
        run = record_run(exp, prepared, base_path, tracking_uri)
        with clock("sweep"):
            sweep(exp, run, progress, restart=restart, on_trials=progress.trials)
        progress.close_trials()  # the table stays on screen; evaluation lines go below it
        with clock("evaluate"):
            evaluate(exp.run_dir, Path(str(run.eval)), progress, exp.stored_results)
            exp.push()
        with clock("report"), progress.status("report: leaderboard and plots"):
            board = build_report(exp.run_dir)
            log_report(exp.run_dir, run)
            exp.push()
    render_leaderboard(console, board)
    best = str(board.best.get("checkpoint", ""))
    if best:
        print_examples(console, example_completions(exp.run_dir, best,
                                                    board.best.get("step")), best)
    console.print(timings_table(clock.seconds, progress.last_trials))
    for label, uri in locations(exp, run).items():
        console.print(f"{label + ':':15} {uri}", highlight=False, soft_wrap=True)
    # soft_wrap: a command to copy is never broken over two lines by us
    console.print("MLflow UI:", highlight=False)
    console.print(f"mlflow ui --backend-store-uri {run.tracking_uri}", highlight=False,
                  soft_wrap=True)
    console.print(f"then open {runs_table_url(run.tracking_uri, run.experiment)}",
                  highlight=False, soft_wrap=True)
