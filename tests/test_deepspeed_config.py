"""DeepSpeed configs generated from a recipe: "auto" fields filled (micro batch, gradient
accumulation, learning rate, schedule, precision), ZeRO-2/3 with and without offload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesweep.config.schema import TuningRecipe
from codesweep.errors import CodesweepError
from codesweep.models.deepspeed import AUTO, deepspeed_config


def recipe(stage: int, method: str = "lora", **ds: object) -> TuningRecipe:
    return TuningRecipe.model_validate({
        "name": "d", "pipeline": "p",
        "optim": {"lr": 2e-4, "weight_decay": 0.01, "warmup_steps": 30, "schedule": "cosine"},
        "data": {"micro_batch_size": 4, "effective_batch_size": 32},
        "train": {"num_workers": 2, "max_steps": 500, "method": method,
                  "deepspeed": {"stage": stage, **ds}}})


def no_auto_left(config: dict) -> bool:
    return all(no_auto_left(v) if isinstance(v, dict) else v != AUTO for v in config.values())


def test_zero2_fills_auto_fields_from_the_recipe() -> None:
    config = deepspeed_config(recipe(2), world_size=2, dtype="bfloat16")
    assert no_auto_left(config)
    assert config["train_micro_batch_size_per_gpu"] == 4
    assert config["gradient_accumulation_steps"] == 4  # 32 / (4 x 2)
    assert config["train_batch_size"] == 32
    assert config["optimizer"]["params"]["lr"] == 2e-4
    assert config["optimizer"]["params"]["weight_decay"] == 0.01
    assert config["scheduler"] == {"type": "WarmupCosineLR", "params": {
        "warmup_num_steps": 30, "warmup_type": "linear", "total_num_steps": 500}}
    assert config["bf16"] == {"enabled": True} and config["fp16"] == {"enabled": False}
    assert config["zero_optimization"]["stage"] == 2
    assert "offload_optimizer" not in config["zero_optimization"]
    assert config["optimizer"]["params"]["torch_adam"] is True  # nothing to compile


def test_zero2_with_optimizer_offload_and_fp16() -> None:
    config = deepspeed_config(recipe(2, offload_optimizer=True), world_size=4, dtype="float16")
    assert config["zero_optimization"]["offload_optimizer"] == {"device": "cpu",
                                                                 "pin_memory": True}
    assert config["gradient_accumulation_steps"] == 2  # 32 / (4 x 4): real world size wins
    assert config["fp16"] == {"enabled": True} and config["bf16"] == {"enabled": False}
    assert "torch_adam" not in config["optimizer"]["params"]  # offload runs DeepSpeed's CPU Adam


@pytest.mark.parametrize("offload", [False, True])
def test_zero3_full_fine_tune_with_and_without_offload(offload: bool) -> None:
    config = deepspeed_config(recipe(3, "full", offload_optimizer=offload,
                                     offload_params=offload), world_size=2, dtype="bfloat16")
    zero = config["zero_optimization"]
    assert zero["stage"] == 3 and zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert ("offload_param" in zero) is offload and ("offload_optimizer" in zero) is offload


def test_linear_schedule_maps_to_warmup_decay() -> None:
    data = recipe(2).model_dump(by_alias=True)
    data["optim"]["schedule"] = "linear"
    config = deepspeed_config(TuningRecipe.model_validate(data), world_size=2, dtype="float32")
    assert config["scheduler"]["type"] == "WarmupDecayLR"
    assert config["scheduler"]["params"]["warmup_max_lr"] == 2e-4


def test_user_template_is_filled_and_unknown_auto_refused(tmp_path: Path) -> None:
    template = tmp_path / "ds.json"
    template.write_text(json.dumps({"train_micro_batch_size_per_gpu": AUTO,
                                    "zero_optimization": {"stage": 2, "reduce_bucket_size": 5e8}}))
    data = recipe(0).model_dump(by_alias=True)
    data["train"]["deepspeed"]["config_file"] = str(template)
    config = deepspeed_config(TuningRecipe.model_validate(data), world_size=2, dtype="bfloat16")
    assert config == {"train_micro_batch_size_per_gpu": 4,
                      "zero_optimization": {"stage": 2, "reduce_bucket_size": 5e8}}
    template.write_text(json.dumps({"zero_optimization": {"stage3_prefetch_bucket_size": AUTO}}))
    with pytest.raises(CodesweepError, match="no recipe value for "
                                             "'zero_optimization.stage3_prefetch_bucket_size'"):
        deepspeed_config(TuningRecipe.model_validate(data), world_size=2, dtype="bfloat16")


def test_stage_zero_means_plain_ddp() -> None:
    with pytest.raises(CodesweepError, match="plain DDP"):
        deepspeed_config(recipe(0), world_size=2)
