"""The fine-tuning loop of one worker (LoRA/QLoRA adapters, or all weights).

It knows nothing about Ray: a `WorkerEnv` gives it its rank, its shard of examples, a way to
wrap the model for data parallelism, a checkpoint to resume from and a `report` callback.
`train.ray_worker` builds that env from Ray Train; `run_local` builds it for one process, so
the same loop runs where Ray is absent (a bare GPU box) and in unit tests.

Effective batch = micro batch x gradient accumulation x workers; with
`data.effective_batch_size` set, accumulation is derived from the actual world size.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codesweep.config.schema import TuningRecipe
from codesweep.errors import CodesweepError
from codesweep.records import TrialSpec
from codesweep.train import checkpoints
from codesweep.train.batches import Batches, encode_files, encode_pairs, explicit_mask_dtype
from codesweep.train.engine import STATE_FILE, DeepSpeedEngine, Engine, make_engine
from codesweep.train.steps import global_mean, loss_totals, seed_everything

__all__ = ["STATE_FILE", "WorkerEnv", "set_up_packing", "train_lora"]


@dataclass
class WorkerEnv:
    """What the loop needs from whoever runs it.

    `texts` / `val_texts` yield raw texts, or (prompt, completion) pairs when the recipe
    trains on a task (`data.task`).
    """

    texts: Callable[[], Iterator[Any]]
    val_texts: Callable[[], Iterator[Any]]
    report: Callable[[dict[str, Any], Path | None], None]
    rank: int = 0
    world_size: int = 1
    resume_dir: Path | None = None
    wrap_model: Callable[[Any], Any] = field(default=lambda model: model)
    device: str | None = None  # None: the local GPU when there is one, else the CPU
    local_rank: int = 0


def train_lora(spec: TrialSpec, env: WorkerEnv) -> dict[str, Any]:
    """Fine-tune `spec.base_path` per `spec.recipe`; return the last metrics."""
    from codesweep.models.adapters import load_for_training
    from codesweep.tasks.ir_prompt import recipe_tokens

    recipe = spec.recipe
    _set_up_process(recipe, env)
    device = env.device or _default_device(env.local_rank)
    model, tokenizer = load_for_training(spec.base_path, recipe, recipe_tokens(recipe.data),
                                         device_map={"": device})
    if not recipe.model.quantization.bits:
        model.to(device)  # quantized weights were placed by from_pretrained and cannot move
    seq2seq = bool(model.config.is_encoder_decoder)
    accum = recipe.grad_accum_for(env.world_size)
    mask_dtype = set_up_packing(model, recipe)
    train_rows = _train_batches(env, tokenizer, recipe, seq2seq, accum)
    val_rows = _encode(env.val_texts(), tokenizer, recipe, seq2seq, recipe.data.val_blocks)
    val_rows = val_rows.select(slice(env.rank, None, env.world_size))
    train_rows, val_rows = (rows.with_explicit_mask(mask_dtype) for rows in (train_rows, val_rows))
    engine = make_engine(model, recipe, env.world_size, env.wrap_model)
    start = _resume(env.resume_dir, model, engine)
    run = _Run(recipe, env, model, tokenizer, engine, device, train_rows, val_rows, accum)
    return run.steps(start + 1)


@dataclass
class _Run:
    """The state the step loop carries, so each piece stays a short method."""

    recipe: TuningRecipe
    env: WorkerEnv
    model: Any
    tokenizer: Any
    engine: Engine
    device: str
    train_rows: Batches
    val_rows: Batches
    accum: int

    def steps(self, first: int) -> dict[str, Any]:
        train = self.recipe.train
        last: dict[str, Any] = {}
        losses, tokens, started = [], 0, time.perf_counter()
        for step in range(first, train.max_steps + 1):
            batches = self.micro_batches(step)
            losses.append(self.engine.step(batches))
            tokens += sum(_real_tokens(b) for b in batches)
            if step % train.report_every == 0 or step == train.max_steps:
                last = self.metrics(step, losses, tokens, time.perf_counter() - started)
                self.env.report(last, self.checkpoint(step, last))
                losses, tokens, started = [], 0, time.perf_counter()
        return last

    def micro_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        size = self.recipe.data.micro_batch_size
        per_epoch = len(self.train_rows) // size
        # A pure function of the step: a resumed run sees exactly the batches it would have.
        return [self.train_rows.micro_batch(((step - 1) * self.accum + micro) % per_epoch,
                                            size, self.device) for micro in range(self.accum)]

    def metrics(self, step: int, losses: list[float], tokens: int, elapsed: float
                ) -> dict[str, Any]:
        size = self.recipe.data.micro_batch_size
        seq2seq = bool(self.model.config.is_encoder_decoder)
        val_total, val_tokens = loss_totals(self.engine.forward, self.val_rows, size,
                                            self.device, seq2seq)
        return {
            "step": step,
            "train_loss": sum(losses) / len(losses),  # step losses are global already
            "val_loss": global_mean(val_total, val_tokens),  # per token over all workers
            "lr": self.engine.lr(),
            "tokens_per_s": global_mean(tokens / max(elapsed, 1e-9), 1) * self.env.world_size,
            "step_time_s": elapsed / max(1, len(losses)),  # includes this window's data moves
            "effective_batch_size": size * self.accum * self.env.world_size,
        }

    def checkpoint(self, step: int, metrics: dict[str, Any]) -> Path | None:
        """Rank 0 writes weights; under DeepSpeed every rank adds its optimizer shard."""
        deepspeed = isinstance(self.engine, DeepSpeedEngine)
        if self.env.rank != 0 and not deepspeed:
            return None
        directory = checkpoints.new_checkpoint_dir(step)
        added = self.recipe.data.ir_variant == "C"
        checkpoints.save_weights(self.model, self.tokenizer, directory, added, self.env.rank,
                                 self.engine)
        self.engine.save(directory)
        if self.env.rank == 0:
            torch.save({"step": step}, directory / "step.pt")
            checkpoints.save_rng(directory)
            checkpoints.write_metrics(directory, metrics)
        return directory


def _set_up_process(recipe: TuningRecipe, env: WorkerEnv) -> None:
    torch.set_num_threads(recipe.train.torch_threads or _default_threads(env.world_size))
    if recipe.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it
        torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(recipe.train.seed)


def _default_threads(world_size: int) -> int:
    """Torch threads for this process: the CPUs Ray reserved for it inside a Ray worker (a
    Tune trial training in its own process, a Train worker), else the cores split over the
    workers. torch's default (all cores) thrashes when trials or workers share a machine: two
    trials at once with two threads each on 2 cores ran 2.5-3.5x slower than one alone."""
    assigned = ray_assigned_cpus()
    if assigned is not None:
        return max(1, int(assigned))
    return max(1, (os.cpu_count() or 1) // max(1, world_size))


def ray_assigned_cpus() -> float | None:
    """CPUs Ray reserved for this process when it is a Ray worker, else None (a driver, or
    Ray not started). A Tune trial's CPUs count here whether Train workers run or not."""
    if "ray" not in sys.modules:  # Ray was never imported: not a Ray worker
        return None
    import ray

    if not ray.is_initialized() or ray.get_runtime_context().worker.mode != ray.WORKER_MODE:
        return None
    return float(ray.get_runtime_context().get_assigned_resources().get("CPU", 0)) or None


def _default_device(local_rank: int) -> str:
    return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"


def _encode(rows: Iterator[Any], tokenizer: Any, recipe: TuningRecipe, seq2seq: bool,
            limit: int) -> Batches:
    data = recipe.data
    per_document = data.packing_attention == "per_document"
    if not data.task:
        if seq2seq:
            raise CodesweepError("data.task: an encoder-decoder model trains on prompt -> "
                                 "completion pairs; name a prepared task")
        return encode_files(rows, tokenizer, data.window, limit, per_document=per_document)
    packing = bool(data.packing)  # tasks: off unless asked for
    return encode_pairs(rows, tokenizer, data.window, limit, packing=packing,
                        completion_only=data.completion_only_loss, seq2seq=seq2seq,
                        per_document=per_document)


def set_up_packing(model: Any, recipe: TuningRecipe) -> torch.dtype | None:
    """Ready `model` for packed rows; return the dtype of the explicit document mask they
    need with this model's attention, None when transformers cuts documents itself.

    The KV cache goes off: training never reads it, and with a cache transformers skips its
    packed-sequence detection, so sdpa would let documents attend to each other.
    """
    model.config.use_cache = False
    if recipe.data.packing_attention != "per_document":
        return None
    dtype = model.get_input_embeddings().weight.dtype
    return explicit_mask_dtype(model.config._attn_implementation, dtype)


def _train_batches(env: WorkerEnv, tokenizer: Any, recipe: TuningRecipe, seq2seq: bool,
                   accum: int) -> Batches:
    """Enough rows for every step of this worker, shuffled with the run's seed."""
    data = recipe.data
    if data.packing is False and not data.task:
        raise CodesweepError("data.packing: raw files are always packed; set data.task to "
                             "train on unpacked prompt -> completion examples")
    needed = recipe.train.max_steps * accum * data.micro_batch_size
    rows = _encode(env.texts(), tokenizer, recipe, seq2seq, needed)
    if len(rows) < data.micro_batch_size:
        raise CodesweepError(
            f"worker {env.rank}: only {len(rows)} sequences of up to {data.window} tokens in its "
            f"train shard, fewer than data.micro_batch_size={data.micro_batch_size}")
    return rows.select(np.random.default_rng(recipe.train.seed).permutation(len(rows)))


def _real_tokens(batch: dict[str, torch.Tensor]) -> int:
    mask = batch.get("attention_mask")  # 2D: padded rows; 4D: a packed rows' document mask
    return int(mask.sum()) if mask is not None and mask.dim() == 2 else batch["input_ids"].numel()


def _resume(directory: Path | None, model: Any, engine: Engine) -> int:
    """Load weights, optimizer and RNG state from a checkpoint; return its step (0 without)."""
    if directory is None:
        return 0
    _load_weights(directory, model)
    engine.load(directory)
    checkpoints.load_rng(directory)
    return int(torch.load(directory / "step.pt")["step"])


def _load_weights(directory: Path, model: Any) -> None:
    from safetensors.torch import load_file

    adapter = directory / "adapter_model.safetensors"
    if adapter.is_file():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(str(adapter)))
    elif (directory / "model.safetensors").is_file():
        # strict=False: tied output weights are not stored twice
        model.load_state_dict(load_file(str(directory / "model.safetensors")), strict=False)
