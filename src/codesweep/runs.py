"""The run directory: one per experiment, every stage's output in a known place.

runs/<name>/
  run.json            what the run is made of: recipe, prepared data, base model, suite
  recipe.yaml         the resolved tuning recipe (extends and overrides applied)
  sweep/              Ray Tune experiment (resumable with `codesweep sweep --resume`)
  train/<trial_id>/   Ray Train runs: checkpoint_*/ hold LoRA adapters + optimizer state
  trials.json         per trial: params, final metrics, metric history, best checkpoint
  eval/results/       one Parquet file per (checkpoint, task), one row per example
  eval/summary.json   corpus-level scores per (checkpoint, task)
  report/             leaderboard.md, eval_<task>_<metric>.png, loss_curves.png
  mlflow.db           the MLflow store (unless --tracking-uri / MLFLOW_TRACKING_URI)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from codesweep.errors import CodesweepError


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    staging.write_text(json.dumps(data, indent=2, default=str))
    os.replace(staging, path)


def read_json(path: Path, what: str) -> Any:
    """Read a JSON file of the run directory, with a one-line error naming what is missing."""
    if not path.is_file():
        raise CodesweepError(f"{path}: no {what} here; run the earlier stage first")
    return json.loads(path.read_text())


def run_info(run_dir: Path) -> dict[str, Any]:
    """`run.json` of a run directory."""
    if not run_dir.is_dir():
        raise CodesweepError(f"{run_dir}: run directory not found")
    return read_json(run_dir / "run.json", "run.json (not a codesweep run directory?)")


def trials(run_dir: Path) -> list[dict[str, Any]]:
    """`trials.json` of a run directory."""
    return read_json(run_dir / "trials.json", "trials.json (the sweep has not finished)")
