"""`codesweep train RECIPE`: one training run (no sweep) of a tuning recipe.

It runs on Ray Train under `<run_dir>/train/<name>`, so running the same command again
after an interruption resumes from the newest checkpoint. `--local` runs the same loop in
this process instead (a GPU machine without a Ray cluster).
"""

from __future__ import annotations

from pathlib import Path

import typer

from codesweep.cli.options import CACHE, OVERRIDES, RECIPE, RUN_DIR, STORAGE


def train_command(recipe: Path = RECIPE, override: list[str] = OVERRIDES,
                  run_dir: Path | None = RUN_DIR, cache_dir: Path | None = CACHE,
                  storage: str | None = STORAGE,
                  local: bool = typer.Option(False, help="train in this process, without Ray")
                  ) -> None:
    """Train once with the recipe's base settings (no search); resumes an interrupted run."""
    from codesweep.cli.console import ConsoleProgress, console
    from codesweep.experiment import base_model, connect, load_experiment, prepare_data
    from codesweep.records import TrainRecord, TrialSpec
    from codesweep.rundir import write_train
    from codesweep.train.local import train_in_process
    from codesweep.train.ray_worker import train_on_ray

    progress = ConsoleProgress()
    exp = load_experiment(recipe, override, run_dir, cache_dir, storage)
    connect(exp.root, progress)  # data preparation runs on Ray Data
    prepared = prepare_data(exp, progress)
    spec = TrialSpec(recipe=exp.recipe, base_path=base_model(exp, prepared, progress),
                     prepared=prepared)
    train_root = exp.run_dir / "train"
    metrics, checkpoint = (train_in_process(spec, train_root / exp.recipe.name) if local
                           else train_on_ray(spec, exp.recipe.name, train_root))
    write_train(exp.run_dir, TrainRecord(name=exp.recipe.name, base_path=spec.base_path,
                                         checkpoint=checkpoint, metrics=metrics,
                                         prepared=prepared))
    console.print(f"train: step {metrics.get('step')} val_loss {metrics.get('val_loss')}; "
                  f"checkpoint {checkpoint}")
