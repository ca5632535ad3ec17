"""The run directory: one per experiment, every stage's output in a known place.

<storage root>/runs/<name>/   (the root: --storage, $CODESWEEP_STORAGE, recipe storage:, else .)
  run.json            RunRecord: recipe, prepared data, base model, suite, finished sweep key
  recipe.yaml         the resolved tuning recipe (extends and overrides applied)
  sweep/              Ray Tune experiment (resumable with `codesweep sweep --resume`)
  train/<trial_id>/   Ray Train runs: checkpoint_*/ hold LoRA adapters + optimizer state
  trials.json         TrialResult per trial: params, final metrics, history, checkpoints
  train.json          TrainRecord of a `codesweep train` (no sweep)
  eval/results/       one Parquet file per (checkpoint, task), one row per example
  eval/summary.json   EvaluationRecord rows: corpus-level scores per (checkpoint, task)
  report/             leaderboard.md, eval_<task>_<metric>.png, loss_curves.png
  mlflow.db           the MLflow store (unless --tracking-uri / MLFLOW_TRACKING_URI)

On an object-store root (`s3://`, `gs://`) the commands work on a local mirror of the run
directory, synced with the root after each stage (see `codesweep.mirror`); `sweep/` and
`train/` are written by Ray straight to the root, and so are the evaluation rows.

This module is the only one that reads or writes those JSON files; every write is atomic.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from codesweep.config.loader import validate
from codesweep.config.schema import TuningRecipe
from codesweep.errors import CodesweepError
from codesweep.fileio import read_json, write_json, write_text
from codesweep.records import EvaluationRecord, RunRecord, TrainRecord, TrialResult

RUN, TRIALS, TRAIN, RECIPE = "run.json", "trials.json", "train.json", "recipe.yaml"
SUMMARY = ("eval", "summary.json")
EVAL_TIMINGS = ("eval", "timings.json")


def results_dir(run_dir: Path) -> Path:
    """Where the per-(checkpoint, task) Parquet rows live."""
    return run_dir / "eval" / "results"


def read_run(run_dir: Path) -> RunRecord:
    """run.json of an existing run directory."""
    if not run_dir.is_dir():
        raise CodesweepError(f"{run_dir}: run directory not found")
    path = run_dir / RUN
    return validate(RunRecord, read_json(path, "run.json (not a codesweep run directory?)"), path)


def write_run(run_dir: Path, record: RunRecord) -> None:
    """Write run.json."""
    write_json(run_dir / RUN, record.model_dump(mode="json"))


def write_recipe(run_dir: Path, recipe: TuningRecipe) -> None:
    """Keep the resolved tuning recipe next to the results it produced."""
    text = yaml.safe_dump(recipe.model_dump(by_alias=True), sort_keys=False)
    write_text(run_dir / RECIPE, text)


def has_trials(run_dir: Path) -> bool:
    """True when a sweep has finished here (trials.json exists)."""
    return (run_dir / TRIALS).is_file()


def read_trials(run_dir: Path) -> list[TrialResult]:
    """trials.json of a run directory."""
    path = run_dir / TRIALS
    rows = read_json(path, "trials.json (the sweep has not finished)")
    return [validate(TrialResult, row, f"{path}[{i}]") for i, row in enumerate(rows)]


def write_trials(run_dir: Path, trials: list[TrialResult]) -> None:
    """Write trials.json."""
    write_json(run_dir / TRIALS, [t.model_dump(mode="json") for t in trials])


def read_train(run_dir: Path) -> TrainRecord | None:
    """train.json of a `codesweep train` run, None when there is none."""
    path = run_dir / TRAIN
    if not path.is_file():
        return None
    return validate(TrainRecord, read_json(path, "train.json"), path)


def write_train(run_dir: Path, record: TrainRecord) -> None:
    """Write train.json."""
    write_json(run_dir / TRAIN, record.model_dump(mode="json"))


def read_summary(run_dir: Path) -> list[EvaluationRecord]:
    """eval/summary.json as records."""
    path = run_dir.joinpath(*SUMMARY)
    rows = read_json(path, "evaluation summary")
    return [EvaluationRecord.from_row(row) for row in rows]


def write_eval_timings(run_dir: Path, seconds: dict[str, float]) -> None:
    """Write eval/timings.json: where the last evaluation's time went (actor start-up, model
    load, generation, scoring)."""
    write_json(run_dir.joinpath(*EVAL_TIMINGS), {k: round(v, 2) for k, v in seconds.items()})


def write_summary(run_dir: Path, records: list[EvaluationRecord]) -> None:
    """Write eval/summary.json as flat rows (small, diffable, read by the report)."""
    write_json(run_dir.joinpath(*SUMMARY), [r.row() for r in records])
