"""DeepSpeed ZeRO configs generated from a tuning recipe.

A template holds "auto" where the recipe decides (micro batch, gradient accumulation, learning
rate, schedule, precision); `fill_auto` writes the recipe's values in, the way the HF Trainer
does, so one template serves every trial of a sweep. Users may bring their own template
(`train.deepspeed.config_file`): its "auto" values are filled the same way.

Which combinations we ship: LoRA + ZeRO-2, QLoRA + ZeRO-2 and full fine-tune + ZeRO-3.
QLoRA + ZeRO-3 is refused by the recipe schema (bitsandbytes weights cannot be sharded).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from codesweep.config.schema import DeepSpeedConfig, TuningRecipe
from codesweep.errors import CodesweepError

AUTO = "auto"
# Our schedules by DeepSpeed name; warmup ramps linearly, as in the torch path.
SCHEDULERS = {"cosine": "WarmupCosineLR", "linear": "WarmupDecayLR", "constant": "WarmupLR"}


def template(ds: DeepSpeedConfig, schedule: str) -> dict[str, Any]:
    """A ZeRO-2/3 config with "auto" where the recipe fills in values."""
    zero: dict[str, Any] = {"stage": ds.stage, "overlap_comm": True,
                            "contiguous_gradients": True}
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if ds.stage == 3:
        # Gather the shards into one 16-bit state dict at save time: checkpoints stay loadable.
        zero["stage3_gather_16bit_weights_on_model_save"] = True
        if ds.offload_params:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    optimizer_params: dict[str, Any] = {"lr": AUTO, "weight_decay": AUTO,
                                        "betas": [0.9, 0.999], "eps": 1e-8}
    if not ds.offload_optimizer:
        # torch's AdamW: DeepSpeed's fused Adam is compiled on first use (needs nvcc, minutes);
        # an offloaded optimizer runs DeepSpeed's CPU Adam, which it requires
        optimizer_params["torch_adam"] = True
    scheduler_params: dict[str, Any] = {"warmup_num_steps": AUTO, "warmup_type": "linear"}
    if schedule != "constant":
        scheduler_params["total_num_steps"] = AUTO
    if schedule != "cosine":
        scheduler_params.update(warmup_min_lr=0.0, warmup_max_lr=AUTO)
    return {
        "train_micro_batch_size_per_gpu": AUTO, "gradient_accumulation_steps": AUTO,
        "train_batch_size": AUTO, "gradient_clipping": AUTO,
        "bf16": {"enabled": AUTO}, "fp16": {"enabled": AUTO},
        "optimizer": {"type": "AdamW", "params": optimizer_params},
        "scheduler": {"type": SCHEDULERS[schedule], "params": scheduler_params},
        "zero_optimization": zero,
        "steps_per_print": 10**9,  # our loop reports; keep DeepSpeed's own log quiet
    }


def auto_values(recipe: TuningRecipe, world_size: int, dtype: str) -> dict[str, Any]:
    """Dotted config keys -> the recipe's value for them."""
    data, optim = recipe.data, recipe.optim
    accum = recipe.grad_accum_for(world_size)
    return {
        "train_micro_batch_size_per_gpu": data.micro_batch_size,
        "gradient_accumulation_steps": accum,
        "train_batch_size": data.micro_batch_size * accum * world_size,
        "gradient_clipping": optim.max_grad_norm,
        "bf16.enabled": dtype == "bfloat16", "fp16.enabled": dtype == "float16",
        "optimizer.params.lr": optim.lr, "optimizer.params.weight_decay": optim.weight_decay,
        "scheduler.params.total_num_steps": recipe.train.max_steps,
        "scheduler.params.warmup_num_steps": min(optim.warmup_steps, recipe.train.max_steps),
        "scheduler.params.warmup_max_lr": optim.lr,
    }


def fill_auto(config: dict[str, Any], values: dict[str, Any], _path: str = "") -> dict[str, Any]:
    """A copy of `config` with every "auto" replaced from `values`; unknown "auto" is an error."""
    filled = copy.deepcopy(config)
    for key, value in filled.items():
        dotted = f"{_path}{key}"
        if isinstance(value, dict):
            filled[key] = fill_auto(value, values, f"{dotted}.")
        elif value == AUTO:
            if dotted not in values:
                raise CodesweepError(f"train.deepspeed.config_file: no recipe value for "
                                     f"{dotted!r} = \"auto\"; allowed auto keys: "
                                     f"{', '.join(sorted(values))}")
            filled[key] = values[dotted]
    return filled


def deepspeed_config(recipe: TuningRecipe, world_size: int, dtype: str | None = None
                     ) -> dict[str, Any]:
    """The complete DeepSpeed config of one run with `world_size` workers.

    `dtype` (float32/bfloat16/float16) defaults to what `model.dtype` resolves to here.
    """
    ds = recipe.train.deepspeed
    if ds.stage == 0 and not ds.config_file:
        raise CodesweepError("train.deepspeed.stage is 0 (plain DDP): no DeepSpeed config")
    base = _read_template(ds.config_file) if ds.config_file else template(ds, recipe.optim.schedule)
    return fill_auto(base, auto_values(recipe, world_size, dtype or _dtype_name(recipe)))


def _read_template(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise CodesweepError(f"train.deepspeed.config_file: {path} not found")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise CodesweepError(f"train.deepspeed.config_file: {path} is not JSON: {exc}") from None


def _dtype_name(recipe: TuningRecipe) -> str:
    from codesweep.models.factory import resolve_dtype

    return str(resolve_dtype(recipe.model.dtype)).removeprefix("torch.")


def uses_deepspeed(recipe: TuningRecipe) -> bool:
    """True when the recipe asks for DeepSpeed (a ZeRO stage or a config file)."""
    return bool(recipe.train.deepspeed.stage or recipe.train.deepspeed.config_file)


def initialize(model: Any, recipe: TuningRecipe, world_size: int) -> tuple[Any, Any]:
    """(engine, lr scheduler): DeepSpeed wraps the model and builds optimizer and schedule."""
    try:
        import deepspeed
    except ImportError:
        raise CodesweepError("train.deepspeed.stage needs deepspeed: "
                             "pip install 'codesweep[gpu]'") from None
    _single_process_defaults()
    params = [p for p in model.parameters() if p.requires_grad]
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, model_parameters=params, config=deepspeed_config(recipe, world_size))
    return engine, scheduler


def _single_process_defaults() -> None:
    """Without a launcher (Ray sets up torch.distributed itself) DeepSpeed still wants a
    process group: describe a world of one on this machine."""
    import os

    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return
    for name, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"),
                        ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29511")):
        os.environ.setdefault(name, value)
