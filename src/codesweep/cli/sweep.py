"""`codesweep sweep`: prepare what is missing, then sweep LoRA fine-tunes with Ray Tune."""

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


def sweep_command(recipe: Path = RECIPE, override: list[str] = OVERRIDES,
                  run_dir: Path | None = RUN_DIR, cache_dir: Path | None = CACHE,
                  storage: str | None = STORAGE,
                  tracking_uri: str | None = TRACKING,
                  resume: bool = typer.Option(False, help="finish an interrupted sweep "
                                              "(a plain rerun does so too)"),
                  restart: bool = RESTART, fix_searched: bool = FIX_SEARCHED,
                  verify: bool = VERIFY) -> None:
    """Prepare data and base model if needed, then sweep LoRA fine-tunes with Ray Tune."""
    from codesweep.cli.console import ConsoleProgress, console
    from codesweep.cli.tables import trials_table
    from codesweep.errors import CodesweepError
    from codesweep.experiment import load_experiment, set_up, sweep
    from codesweep.locks import run_dir_lock

    if resume and restart:
        raise CodesweepError("--resume and --restart contradict each other; pass one")
    progress = ConsoleProgress()
    exp = load_experiment(recipe, override, run_dir, cache_dir, storage,
                          drop_searched=fix_searched, verify=verify)
    with run_dir_lock(exp.run_dir, note=progress.line):
        run = set_up(exp, tracking_uri, progress)
        trials = sweep(exp, run, progress, resume=resume, restart=restart,
                       on_trials=progress.trials)
        progress.close_trials()
    console.print(trials_table(trials))
    console.print(f"run directory: {exp.run_ref.uri if exp.mirror else exp.run_dir}")
