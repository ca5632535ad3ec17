"""Checkpoint contents and retention.

A LoRA/QLoRA checkpoint holds the adapter only (PEFT `save_pretrained`); a full fine-tune
holds the whole model. Both add the tokenizer when the run changed it (IR variant C), the
optimizer/schedule state, the RNG state (dropout masks repeat exactly after a resume) and
the metrics that chose it. Under Ray, retention is Ray's `CheckpointConfig`; `prune` applies
the same rule to a local run's directory.
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codesweep.train.retention import beyond_retention, loss_or_inf

RNG_FILE = "rng_state.pkl"
METRICS_FILE = "metrics.json"


def new_checkpoint_dir(step: int) -> Path:
    """A fresh temporary directory for the checkpoint of `step`."""
    return Path(tempfile.mkdtemp(prefix=f"codesweep-ckpt-{step}-"))


def save_weights(model: Any, tokenizer: Any, directory: Path, tokens_added: bool, rank: int,
                 engine: Any = None) -> None:
    """Adapter (PEFT) or full weights into `directory`, written by rank 0.

    Under ZeRO-3 (full fine-tunes only) the parameters are sharded: every rank joins the
    gather and DeepSpeed writes the 16-bit weights from rank 0.
    """
    adapter = hasattr(model, "peft_config")
    deepspeed = getattr(engine, "engine", None)
    if deepspeed is not None and deepspeed.zero_optimization_stage() == 3:
        deepspeed.save_16bit_model(str(directory), "pytorch_model.bin")  # collective
        if rank == 0:
            model.config.save_pretrained(directory)
    elif rank == 0:
        model.save_pretrained(directory)  # PEFT: adapter (+ trained token rows) only
    if rank == 0 and (tokens_added or not adapter):
        tokenizer.save_pretrained(directory)


def save_rng(directory: Path) -> None:
    """Python, numpy and torch RNG states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state(),
             "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    (directory / RNG_FILE).write_bytes(pickle.dumps(state))


def load_rng(directory: Path) -> None:
    """Restore what `save_rng` wrote (a checkpoint without it leaves the RNGs alone)."""
    path = directory / RNG_FILE
    if not path.is_file():
        return
    state = pickle.loads(path.read_bytes())  # written by this code, inside the run's storage
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_metrics(directory: Path, metrics: dict[str, Any]) -> None:
    """The metrics reported with the checkpoint (retention by val_loss reads them)."""
    (directory / METRICS_FILE).write_text(json.dumps(metrics))


def step_of(directory: Path) -> int:
    """Step of a `checkpoint_<step>` directory."""
    return int(directory.name.rsplit("_", 1)[-1])


def prune(out_dir: Path, keep: int, keep_by: str) -> list[Path]:
    """Delete `checkpoint_*` directories beyond the `keep` newest (or best by val_loss; the
    newest is always kept so a run can resume). Return what was deleted."""
    found = sorted(out_dir.glob("checkpoint_*"), key=step_of)
    doomed = beyond_retention([(d, _val_loss(d)) for d in found], keep, keep_by)
    for directory in doomed:
        shutil.rmtree(directory)
    return doomed


def _val_loss(directory: Path) -> float:
    try:
        value = json.loads((directory / METRICS_FILE).read_text()).get("val_loss")
    except (OSError, ValueError):
        return float("inf")
    return loss_or_inf(value)
