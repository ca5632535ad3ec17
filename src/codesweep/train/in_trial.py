"""Ray Train's local mode for single-worker CPU runs: the train function runs in the calling
process (a Tune trial's own), which saves the worker-group start-up of a few seconds per trial.

Local mode persists nothing and calls no Train callbacks, so this module does what they do:
checkpoints move to `<storage>/<name>/checkpoint_<step>` with the recipe's retention, reports
reach Tune with their checkpoint's path, and a restarted run resumes from the newest one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codesweep.config.schema import TrainConfig
from codesweep.train.checkpoints import prune

CHECKPOINT_PATH_KEY = "checkpoint_path"  # the key Tune's TuneReportCallback uses too


def runs_in_process(train: TrainConfig) -> bool:
    """One CPU worker (or 0, the recipe's way to ask): no worker process to start."""
    return train.num_workers <= 1 and not train.gpus_per_worker


def in_process_report(out_dir: Path, train: TrainConfig
                      ) -> Callable[[dict[str, Any], Path | None], None]:
    """The loop's report function in local mode: keep the checkpoint, then tell Tune (in a
    trial) or Ray Train (for the run's Result, outside Tune) about it."""
    import ray.train
    import ray.tune
    from ray.tune.trainable.trainable_fn_utils import _in_tune_session

    def report(metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        kept = None
        if checkpoint_dir is not None:
            kept = out_dir / f"checkpoint_{metrics['step']}"
            out_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(str(checkpoint_dir), kept)
            prune(out_dir, train.keep_checkpoints, train.keep_by)
            metrics = {**metrics, CHECKPOINT_PATH_KEY: str(kept)}
        if _in_tune_session():  # Ray refuses ray.train.report inside a Tune function
            ray.tune.report(metrics)
            return
        ray.train.report(metrics, checkpoint=(
            ray.train.Checkpoint.from_directory(str(kept)) if kept else None))

    return report
