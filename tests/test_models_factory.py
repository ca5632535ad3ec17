"""Model factory and adapters: seq2seq detection, attention/dtype choice, gradient
checkpointing, LoRA target modules / bias / DoRA, and clear errors for GPU-only knobs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_train_tasks import make_workspace

from codesweep.config.schema import QuantizationConfig, TuningRecipe
from codesweep.errors import CodesweepError
from codesweep.models.adapters import load_for_training
from codesweep.models.factory import is_seq2seq, resolve_attention, resolve_dtype
from codesweep.models.quantization import bnb_config, check_quantization_support


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("models"))


def recipe(**sections: dict) -> TuningRecipe:
    return TuningRecipe.model_validate({"name": "m", "pipeline": "p", **sections})


def test_seq2seq_is_detected_from_the_config(models: Path) -> None:
    assert is_seq2seq(models / "t5") and not is_seq2seq(models / "llama")


def test_cpu_defaults_fp32_and_sdpa() -> None:
    if torch.cuda.is_available():
        pytest.skip("CPU defaults")
    assert resolve_dtype("auto") == torch.float32
    assert resolve_attention("auto", torch.float32) == "sdpa"
    assert resolve_dtype("bfloat16") == torch.bfloat16


def test_flash_attention_without_the_package_is_a_clear_error() -> None:
    pytest.importorskip("torch")
    import importlib.util

    if importlib.util.find_spec("flash_attn"):
        pytest.skip("flash-attn is installed")
    with pytest.raises(CodesweepError, match="model.attn_implementation: flash_attention_2"):
        resolve_attention("flash_attention_2", torch.bfloat16)


def test_lora_by_name_with_bias_and_dora(models: Path) -> None:
    model, _ = load_for_training(str(models / "llama"), recipe(lora={
        "target_modules": ["q_proj", "v_proj"], "bias": "none", "use_dora": True}))
    adapted = {name.split(".lora_A")[0].rsplit(".", 1)[-1]
               for name, _ in model.named_parameters() if "lora_A" in name}
    assert adapted == {"q_proj", "v_proj"}
    assert any("lora_magnitude_vector" in name for name, _ in model.named_parameters())
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in name for name in trainable)


def test_all_linear_and_gradient_checkpointing(models: Path) -> None:
    model, _ = load_for_training(str(models / "llama"), recipe(
        lora={"target_modules": "all-linear", "bias": "lora_only"},
        model={"gradient_checkpointing": True}))
    adapted = {name.split(".lora_A")[0].rsplit(".", 1)[-1]
               for name, _ in model.named_parameters() if "lora_A" in name}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
            "down_proj"} <= adapted
    assert model.base_model.model.is_gradient_checkpointing
    assert model.config.use_cache is False


def test_full_method_trains_every_weight(models: Path) -> None:
    model, _ = load_for_training(str(models / "llama"), recipe(train={"method": "full"}))
    assert not hasattr(model, "peft_config")
    assert all(p.requires_grad for p in model.parameters())


def test_qlora_config_is_nf4_double_quant_bf16() -> None:
    config = bnb_config(QuantizationConfig(bits=4))
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant and config.bnb_4bit_compute_dtype == torch.bfloat16
    assert bnb_config(QuantizationConfig(bits=8)).load_in_8bit
    assert bnb_config(QuantizationConfig()) is None


def test_quantization_on_cpu_is_a_one_line_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(CodesweepError, match="model.quantization.bits=4 needs a CUDA GPU"):
        check_quantization_support(QuantizationConfig(bits=4))


@pytest.mark.parametrize(("sections", "message"), [
    ({"model": {"quantization": {"bits": 4}}, "train": {"method": "full"}},
     "model.quantization.bits needs train.method: lora"),
    ({"model": {"quantization": {"bits": 4}}, "train": {"deepspeed": {"stage": 3}}},
     "stage 3 is for train.method: full"),
    ({"train": {"deepspeed": {"stage": 2, "offload_params": True}}},
     "offload_params needs train.deepspeed.stage: 3"),
    ({"data": {"ir_variant": "C"}}, "data.ir_variant needs data.task"),
])
def test_inconsistent_recipes_are_refused(sections: dict, message: str) -> None:
    from codesweep.config.loader import validate

    with pytest.raises(CodesweepError, match=message):
        validate(TuningRecipe, {"name": "m", "pipeline": "p", **sections}, "r.yaml")
