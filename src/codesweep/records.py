"""Typed records for what one part of an experiment hands the next.

Locations are plain strings (a local path today, a storage URI later), never `Path`s, so a
record means the same on the driver and on a remote worker. Records are validated when they
are read from disk or built; after that they travel as objects.
"""

from __future__ import annotations

import posixpath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from codesweep.config.schema import TuningRecipe


class Record(BaseModel):
    """Base of every record: unknown keys are errors, records are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def join(location: str, *parts: str) -> str:
    """A location below `location` (a path or a URI; '/'-separated either way)."""
    return posixpath.join(location, *parts)


class PreparedDataRef(Record):
    """A prepared dataset: its root (holding files/, tasks/, manifest.json) and content key."""

    root: str
    key: str

    @property
    def name(self) -> str:
        """`<pipeline>-<key prefix>`: the root's last component, as tracking tags show it."""
        return posixpath.basename(self.root.rstrip("/"))

    def files(self, split: str) -> str:
        """The raw-files Parquet directory of one split."""
        return join(self.root, "files", split)

    def tasks(self) -> str:
        """The directory holding one Parquet directory per task."""
        return join(self.root, "tasks")


class TrialSpec(Record):
    """What a training run needs: its recipe (already validated), base, data and storage."""

    recipe: TuningRecipe
    base_path: str
    prepared: PreparedDataRef
    train_dir: str | None = None  # where Ray Train keeps each trial's checkpoints
    eval_suite: str | None = None  # the suite whose in_training slice scores each checkpoint


class TrialResult(Record):
    """One trial of a finished sweep, as trials.json keeps it."""

    trial_id: str
    params: dict[str, Any]
    status: Literal["done", "error", "unfinished"]  # unfinished: the sweep was interrupted
    error: str | None = None
    final: dict[str, Any]
    history: list[dict[str, Any]]
    checkpoint: str | None = None
    best_checkpoint: str | None = None


class CheckpointRef(Record):
    """A model to evaluate or export: the base (path None) or a trial's checkpoint."""

    trial_id: str
    step: int | None = None
    path: str | None = None


BASE = CheckpointRef(trial_id="base")


class TrainRecord(Record):
    """train.json: the outcome of one `codesweep train` (no sweep)."""

    name: str
    base_path: str
    checkpoint: str | None
    metrics: dict[str, Any]
    prepared: PreparedDataRef


class RunRecord(Record):
    """run.json: what a run directory's results are made of."""

    name: str
    recipe: str
    eval: str | None = None
    prepared: PreparedDataRef
    base_path: str
    dtype: str = "auto"
    sweep_key: str
    tracking_uri: str
    experiment: str
    codesweep_version: str
    done_sweep: str | None = None  # the sweep key trials.json was produced under
    primary_metric: str | None = None


class EvaluationRecord(Record):
    """One row of the evaluation summary: corpus-level scores of a (checkpoint, task) pair."""

    checkpoint: str
    task: str
    n: int
    scores: dict[str, float]
    step: int | None = None  # the trial's training step (None: the base, or a final-only run)
    status: Literal["ok", "failed"] = "ok"
    reason: str | None = None  # why a failed pair could not be scored

    def row(self) -> dict[str, Any]:
        """The flat form summary.json and the report's tables use (step, status and reason
        only where they say something: a final-only or scored row stays as it was)."""
        extra: dict[str, Any] = {"step": self.step} if self.step is not None else {}
        if self.status != "ok":
            extra.update(status=self.status, reason=self.reason)
        return {"checkpoint": self.checkpoint, "task": self.task, "n": self.n, **extra,
                **self.scores}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EvaluationRecord:
        """The record of a flat summary row."""
        scores = {k: v for k, v in row.items() if k not in SUMMARY_FIELDS}
        return cls(checkpoint=row["checkpoint"], task=row["task"], n=row["n"], scores=scores,
                   step=row.get("step"), status=row.get("status", "ok"),
                   reason=row.get("reason"))


SUMMARY_FIELDS = ("checkpoint", "step", "task", "n", "status", "reason")
