"""Run the worker loop in this process, without Ray (single worker).

This is the path for a bare GPU machine (PyTorch + Transformers + PEFT, no Ray) and for unit
tests. Checkpoints land in `out_dir/checkpoint_<step>` with the recipe's retention, and a
second call with the same `out_dir` resumes from the newest one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from codesweep.records import TrialSpec
from codesweep.train.checkpoints import prune, step_of
from codesweep.train.examples import read_split
from codesweep.train.loop import WorkerEnv, train_lora


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The highest-step `checkpoint_<step>` directory under `out_dir`, if any."""
    checkpoints = sorted(out_dir.glob("checkpoint_*"), key=step_of)
    return checkpoints[-1] if checkpoints else None


def run_local(spec: TrialSpec, out_dir: Path) -> dict[str, Any]:
    """Train in-process on the spec's prepared data (its files, or the recipe's task);
    resume from `out_dir`'s newest checkpoint if there is one."""
    recipe, prepared = spec.recipe, spec.prepared
    train = recipe.train
    out_dir.mkdir(parents=True, exist_ok=True)

    def report(metrics: dict[str, Any], checkpoint: Path | None) -> None:
        with (out_dir / "metrics.jsonl").open("a") as log:
            log.write(json.dumps(metrics) + "\n")
        if checkpoint is not None:
            shutil.move(str(checkpoint), out_dir / f"checkpoint_{metrics['step']}")
            prune(out_dir, train.keep_checkpoints, train.keep_by)

    env = WorkerEnv(texts=lambda: read_split(prepared, recipe.data, "train"),
                    val_texts=lambda: read_split(prepared, recipe.data, "validation"),
                    report=report, resume_dir=latest_checkpoint(out_dir))
    return train_lora(spec, env)


def train_in_process(spec: TrialSpec, out_dir: Path) -> tuple[dict[str, Any], str | None]:
    """`run_local`, then (last metrics, newest checkpoint directory or None)."""
    metrics = run_local(spec, out_dir)
    newest = latest_checkpoint(out_dir)
    return metrics, str(newest) if newest else None
