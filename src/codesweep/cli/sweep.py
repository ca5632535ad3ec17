"""`codesweep sweep`: prepare what is missing, then sweep LoRA fine-tunes with Ray Tune."""

from __future__ import annotations

from pathlib import Path

import typer

from codesweep.cli.options import CACHE, OVERRIDES, RECIPE, RUN_DIR, TRACKING


def sweep_command(recipe: Path = RECIPE, override: list[str] = OVERRIDES,
                  run_dir: Path | None = RUN_DIR, cache_dir: Path | None = CACHE,
                  tracking_uri: str | None = TRACKING,
                  resume: bool = typer.Option(False, help="finish an interrupted sweep")) -> None:
    """Prepare data and base model if needed, then sweep LoRA fine-tunes with Ray Tune."""
    from codesweep.cli.console import ConsoleProgress, console
    from codesweep.cli.tables import trials_table
    from codesweep.experiment import load_experiment, set_up, sweep

    progress = ConsoleProgress()
    exp = load_experiment(recipe, override, run_dir, cache_dir)
    run = set_up(exp, tracking_uri, progress)
    trials = sweep(exp, run, progress, resume=resume, on_trials=progress.trials)
    progress.close_trials()
    console.print(trials_table(trials))
    console.print(f"run directory: {exp.run_dir}")
