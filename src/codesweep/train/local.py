"""Run the worker loop in this process, without Ray (single worker)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from codesweep.train.loop import WorkerEnv, train_lora


def read_texts(split_dir: Path) -> Iterator[str]:
    """Stream the `text` column of a prepared split directory."""
    yield from pd.read_parquet(split_dir, columns=["text"])["text"]


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The highest-step `checkpoint_<step>` directory under `out_dir`, if any."""
    found = sorted(out_dir.glob("checkpoint_*"), key=lambda p: int(p.name.split("_")[-1]))
    return found[-1] if found else None


def run_local(spec: dict[str, Any], files_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Train in-process; checkpoints land in `out_dir/checkpoint_<step>`; resumes if present."""
    out_dir.mkdir(parents=True, exist_ok=True)

    def report(metrics: dict[str, Any], checkpoint: Path | None) -> None:
        with (out_dir / "metrics.jsonl").open("a") as log:
            log.write(json.dumps(metrics) + "\n")
        if checkpoint is not None:
            shutil.move(str(checkpoint), out_dir / f"checkpoint_{metrics['step']}")

    env = WorkerEnv(texts=lambda: read_texts(files_dir / "train"),
                    val_texts=lambda: read_texts(files_dir / "validation"),
                    report=report, resume_dir=latest_checkpoint(out_dir))
    return train_lora(spec, env)
