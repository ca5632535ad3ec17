"""`codesweep train RECIPE`: one training run (no sweep) of a tuning recipe.

It runs on Ray Train under `<run_dir>/train/<name>`, so running the same command again
after an interruption resumes from the newest checkpoint. `--local` runs the same loop in
this process instead (a GPU machine without a Ray cluster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from codesweep.commands import CACHE, OVERRIDES, RECIPE, RUN_DIR


def train_command(recipe: Path = RECIPE, override: list[str] = OVERRIDES,
                  run_dir: Path | None = RUN_DIR, cache_dir: Path | None = CACHE,
                  local: bool = typer.Option(False, help="train in this process, without Ray")
                  ) -> None:
    """Train once with the recipe's base settings (no search); resumes an interrupted run."""
    from codesweep.flow import console, load_experiment, stage_base, stage_prepare
    from codesweep.ray_runtime import ensure_ray
    from codesweep.runs import write_json

    exp = load_experiment(recipe, override, run_dir, cache_dir)
    ensure_ray()  # data preparation runs on Ray Data
    prepared = stage_prepare(exp)
    base_path = stage_base(exp, prepared.path)
    spec = {"recipe": exp.recipe.model_dump(by_alias=True), "base_path": base_path,
            "files_dir": str(prepared.path / "files")}
    storage = exp.run_dir / "train"
    metrics, checkpoint = (_train_local(spec, storage / exp.recipe.name) if local
                           else _train_ray(spec, exp.recipe.name, storage))
    write_json(exp.run_dir / "train.json", {
        "name": exp.recipe.name, "base_path": base_path, "checkpoint": checkpoint,
        "metrics": metrics, "prepared": str(prepared.path)})
    console.print(f"train: step {metrics.get('step')} val_loss {metrics.get('val_loss')}; "
                  f"checkpoint {checkpoint}")


def _train_local(spec: dict[str, Any], out: Path) -> tuple[dict[str, Any], str | None]:
    from codesweep.train.local import latest_checkpoint, run_local

    metrics = run_local(spec, Path(spec["files_dir"]), out)
    newest = latest_checkpoint(out)
    return metrics, str(newest) if newest else None


def _train_ray(spec: dict[str, Any], name: str, storage: Path) -> tuple[dict[str, Any], str | None]:
    from codesweep.train.ray_worker import make_trainer

    result = make_trainer(spec, name=name, storage_path=storage, callbacks=[]).fit()
    return dict(result.metrics or {}), result.checkpoint.path if result.checkpoint else None
