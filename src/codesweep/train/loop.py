"""The LoRA fine-tuning loop of one worker.

It knows nothing about Ray: a `WorkerEnv` gives it its rank, its shard of texts, a way to
wrap the model for data parallelism, a checkpoint to resume from and a `report` callback.
`train.ray_worker` builds that env from Ray Train; `run_local` builds it for one process, so
the same loop runs where Ray is absent (a bare GPU box) and in unit tests.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codesweep.config.schema import TuningRecipe
from codesweep.errors import CodesweepError
from codesweep.train.data import take_blocks
from codesweep.train.steps import causal_lm_loss, make_optimizer, mean_loss, seed_everything

STATE_FILE = "trainer_state.pt"


@dataclass
class WorkerEnv:
    """What the loop needs from whoever runs it."""

    texts: Callable[[], Iterator[str]]
    val_texts: Callable[[], Iterator[str]]
    report: Callable[[dict[str, Any], Path | None], None]
    rank: int = 0
    world_size: int = 1
    resume_dir: Path | None = None
    wrap_model: Callable[[Any], Any] = field(default=lambda model: model)


def train_lora(spec: dict[str, Any], env: WorkerEnv) -> dict[str, Any]:
    """Fine-tune `spec["base_path"]` with LoRA per `spec["recipe"]`; return the last metrics."""
    recipe = TuningRecipe.model_validate(spec["recipe"])
    train, data = recipe.train, recipe.data
    torch.set_num_threads(train.torch_threads or _default_threads(env.world_size))
    seed_everything(train.seed)
    model, tokenizer = _lora_model(spec["base_path"], recipe)
    blocks = _train_blocks(env, tokenizer, recipe)
    val_blocks = take_blocks(env.val_texts(), tokenizer, data.window, data.val_blocks)
    val_blocks = val_blocks[env.rank::env.world_size]
    optimizer, scheduler = make_optimizer(
        [p for p in model.parameters() if p.requires_grad], recipe.optim, train.max_steps)
    start = _resume(env.resume_dir, model, optimizer, scheduler)
    ddp_model = env.wrap_model(model)
    last: dict[str, Any] = {}
    window_loss, window_start = [], time.perf_counter()
    for step in range(start + 1, train.max_steps + 1):
        window_loss.append(_optimizer_step(ddp_model, model, blocks, step, recipe,
                                           optimizer, scheduler))
        if step % train.report_every == 0 or step == train.max_steps:
            elapsed = time.perf_counter() - window_start
            last = _metrics(step, window_loss, elapsed, model, val_blocks, recipe, env,
                            scheduler.get_last_lr()[0])
            checkpoint = _save_checkpoint(model, optimizer, scheduler, step, last) \
                if env.rank == 0 else None
            env.report(last, checkpoint)
            window_loss, window_start = [], time.perf_counter()
    return last


def _default_threads(world_size: int) -> int:
    # Workers on one machine share its cores; torch's default (all cores each) thrashes.
    return max(1, (os.cpu_count() or 1) // max(1, world_size))


def _lora_model(base_path: str, recipe: TuningRecipe) -> tuple[Any, Any]:
    from peft import LoraConfig, get_peft_model

    from codesweep.models.factory import load_base_model, load_tokenizer

    tokenizer = load_tokenizer(base_path)
    model = load_base_model(base_path, recipe.model.dtype)
    lora = LoraConfig(r=recipe.lora.r, lora_alpha=recipe.lora.alpha,
                      lora_dropout=recipe.lora.dropout,
                      target_modules=recipe.lora.target_modules, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.train()
    return model, tokenizer


def _train_blocks(env: WorkerEnv, tokenizer: Any, recipe: TuningRecipe) -> np.ndarray:
    """Enough packed blocks for every step of this worker, shuffled with the run's seed."""
    data = recipe.data
    needed = recipe.train.max_steps * data.grad_accum * data.micro_batch_size
    blocks = take_blocks(env.texts(), tokenizer, data.window, needed)
    if len(blocks) < data.micro_batch_size:
        raise CodesweepError(
            f"worker {env.rank}: only {len(blocks)} blocks of {data.window} tokens in its train "
            f"shard, fewer than data.micro_batch_size={data.micro_batch_size}")
    order = np.random.default_rng(recipe.train.seed).permutation(len(blocks))
    return blocks[order]


def _optimizer_step(ddp_model: Any, model: Any, blocks: np.ndarray, step: int,
                    recipe: TuningRecipe, optimizer: Any, scheduler: Any) -> float:
    """One optimizer step over `grad_accum` micro batches; gradients sync only on the last."""
    accum, size = recipe.data.grad_accum, recipe.data.micro_batch_size
    per_epoch = len(blocks) // size
    total = 0.0
    for micro in range(accum):
        index = ((step - 1) * accum + micro) % per_epoch  # a pure function of step: resumable
        batch = torch.from_numpy(blocks[index * size:(index + 1) * size])
        last_micro = micro == accum - 1
        sync = contextlib.nullcontext() if last_micro or not hasattr(ddp_model, "no_sync") \
            else ddp_model.no_sync()
        with sync:
            loss = causal_lm_loss(ddp_model, batch) / accum
            loss.backward()
        total += loss.item()
    torch.nn.utils.clip_grad_norm_(
        [p for p in model.parameters() if p.requires_grad], recipe.optim.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return total


def _metrics(step: int, window_loss: list[float], elapsed: float, model: Any,
             val_blocks: np.ndarray, recipe: TuningRecipe, env: WorkerEnv,
             lr: float) -> dict[str, Any]:
    data = recipe.data
    tokens = len(window_loss) * data.grad_accum * data.micro_batch_size * data.window
    return {
        "step": step,
        "train_loss": _global_mean(sum(window_loss), len(window_loss)),
        "val_loss": _global_mean(mean_loss(model, val_blocks, data.micro_batch_size)
                                 * len(val_blocks), len(val_blocks)),
        "lr": lr,
        "tokens_per_s": tokens * env.world_size / max(elapsed, 1e-9),
    }


def _global_mean(total: float, count: int) -> float:
    """Mean over all workers (all-reduce when distributed), NaN when nothing was counted."""
    if math.isnan(total):
        total, count = 0.0, 0
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        both = torch.tensor([total, float(count)], dtype=torch.float64)
        torch.distributed.all_reduce(both)
        total, count = both.tolist()
    return total / count if count else float("nan")


def _save_checkpoint(model: Any, optimizer: Any, scheduler: Any, step: int,
                     metrics: dict[str, Any]) -> Path:
    """Adapter weights plus optimizer state, in a fresh temporary directory."""
    directory = Path(tempfile.mkdtemp(prefix=f"codesweep-ckpt-{step}-"))
    model.save_pretrained(directory)  # PEFT: adapter only, not the base weights
    torch.save({"step": step, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()}, directory / STATE_FILE)
    (directory / "metrics.json").write_text(json.dumps(metrics))
    return directory


def _resume(directory: Path | None, model: Any, optimizer: Any, scheduler: Any) -> int:
    """Load adapter and optimizer state from a checkpoint; return its step (0 without one)."""
    if directory is None:
        return 0
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(directory / "adapter_model.safetensors")))
    state = torch.load(directory / STATE_FILE, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"])
