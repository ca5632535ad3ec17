"""The GPU combinations we ship, run in one process (no Ray needed), each asserting what it
exists for: 4-/8-bit runs really train on bitsandbytes layers, DeepSpeed really drives the
step and resumes exactly, a merged QLoRA export generates what the adapter generates, and
bf16 LoRA keeps its trainable weights in fp32. Skipped without CUDA or without the `gpu`
extra (bitsandbytes, deepspeed); `bench/gpu_check.sh` treats a skip as a failure."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from test_train_tasks import make_workspace, task_spec

from codesweep.config.schema import TuningRecipe
from codesweep.records import TrialSpec
from codesweep.train.local import run_local

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
needs_bnb = pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                               reason="needs bitsandbytes")
needs_ds = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                              reason="needs deepspeed")
PROMPTS = ["import os\n", "def main():\n", "class Parser:\n", "for line in lines:\n",
           "return "]
BF16 = {"dtype": "bfloat16"}
QLORA = {"dtype": "bfloat16", "quantization": {"bits": 4}}
INT8 = {"quantization": {"bits": 8}}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("gpu"))


def gpu_spec(workspace: Path, **sections: dict) -> TrialSpec:
    """`task_spec` with a `model:` section too (its own `model` argument names the base)."""
    model = sections.pop("model", {})
    spec = task_spec(workspace, **sections)
    data = spec.recipe.model_dump(by_alias=True)
    recipe = TuningRecipe.model_validate({**data, "model": {**data["model"], **model}})
    return spec.model_copy(update={"recipe": recipe})


def recipe_for(workspace: Path, **sections: dict) -> TuningRecipe:
    return gpu_spec(workspace, **sections).recipe


def loaded(workspace: Path, **sections: dict):
    """(model, tokenizer, recipe) as a training run loads them, on the GPU."""
    from codesweep.models.adapters import load_for_training

    recipe = recipe_for(workspace, **sections)
    torch.manual_seed(0)
    model, tokenizer = load_for_training(str(workspace / "llama"), recipe,
                                         device_map={"": "cuda:0"})
    if not recipe.model.quantization.bits:
        model.to("cuda:0")
    return model, tokenizer, recipe


def fixed_batch(tokenizer, window: int = 48, rows: int = 4) -> dict[str, torch.Tensor]:
    from codesweep.train.batches import encode_pairs

    pairs = [(prompt, "value = compute(x, y)") for prompt in PROMPTS]
    encoded = encode_pairs(pairs, tokenizer, window, rows, packing=False,
                           completion_only=True, seq2seq=False)
    return encoded.micro_batch(0, rows, "cuda:0")


def train(workspace: Path, name: str, **sections: dict) -> list[dict]:
    spec = gpu_spec(workspace, **{"train": {"max_steps": 4, "report_every": 2}, **sections})
    out = workspace / name
    run_local(spec, out)
    reports = read_metrics(out)
    steps, every = spec.recipe.train.max_steps, spec.recipe.train.report_every
    assert [r["step"] for r in reports] == list(range(every, steps + 1, every))
    assert all(math.isfinite(r["train_loss"]) for r in reports)
    return reports


def read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("model", "layer"), [
    pytest.param(QLORA, "Linear4bit", marks=needs_bnb, id="4bit"),
    pytest.param(INT8, "Linear8bitLt", marks=needs_bnb, id="8bit")])
def test_kbit_layers_are_bitsandbytes_and_loss_falls(workspace: Path, model: dict,
                                                     layer: str) -> None:
    import bitsandbytes as bnb

    from codesweep.train.engine import make_engine

    net, tokenizer, recipe = loaded(workspace, model=model, train={"max_steps": 30},
                                    optim={"lr": 3e-2, "warmup_steps": 0,
                                           "schedule": "constant"})
    kind = getattr(bnb.nn, layer)
    projections = [m for name, m in net.named_modules()
                   if name.endswith(("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                     "up_proj", "down_proj"))]
    assert projections and all(isinstance(m.base_layer, kind) for m in projections)
    engine = make_engine(net, recipe, 1, lambda m: m)
    batch = fixed_batch(tokenizer)
    losses = [engine.step([batch]) for _ in range(30)]
    assert all(math.isfinite(loss) for loss in losses)
    # The tiny model's frozen tied embeddings bound how far LoRA can move its logits (fp32
    # LoRA goes from 5.96 to 5.51 here); a run that does not train stays at ln(vocab).
    assert losses[-1] < losses[0] - 0.2, losses
    train(workspace, f"run-{layer}", model=model)  # and the whole loop runs on it


@needs_ds
def test_zero2_engine_drives_the_step_with_per_token_loss(workspace: Path) -> None:
    from codesweep.train.engine import DeepSpeedEngine, make_engine

    batches = None
    losses = {}
    for stage in (0, 2):
        net, tokenizer, recipe = loaded(workspace, model=BF16, data={"grad_accum": 2},
                                        train={"deepspeed": {"stage": stage}})
        engine = make_engine(net, recipe, 1, lambda m: m)
        batches = batches or [fixed_batch(tokenizer, rows=2), fixed_batch(tokenizer, rows=4)]
        losses[stage] = engine.step(batches)
        if stage == 2:
            assert isinstance(engine, DeepSpeedEngine)
            engine.step(batches)
            engine.step(batches)
            assert engine.engine.global_steps == 3  # one optimizer step per 2 micro batches
    # Same weights, same micro batches: the same per-token loss (bf16 rounding apart).
    assert losses[2] == pytest.approx(losses[0], rel=2e-2)


@pytest.mark.parametrize("sections", [
    pytest.param({"model": BF16, "train": {"deepspeed": {"stage": 2}}}, marks=needs_ds,
                 id="lora-zero2"),
    pytest.param({"model": QLORA}, marks=needs_bnb, id="qlora"),
    pytest.param({"model": QLORA, "train": {"deepspeed": {"stage": 2}}},
                 marks=[needs_ds, needs_bnb], id="qlora-zero2")])
def test_resume_continues_with_the_same_losses(workspace: Path, sections: dict,
                                               request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.id
    train_section = {"max_steps": 4, "report_every": 2, "deterministic": True,
                     **sections.get("train", {})}
    sections = {**sections, "train": train_section}
    uninterrupted = train(workspace, f"{name}-full", **sections)
    train(workspace, f"{name}-cut", **sections)
    cut = workspace / f"{name}-cut"
    shutil.rmtree(cut / "checkpoint_4")
    (cut / "metrics.jsonl").write_text(json.dumps(read_metrics(cut)[0]) + "\n")
    spec = gpu_spec(workspace, **sections)
    run_local(spec, cut)
    resumed = read_metrics(cut)
    assert [r["step"] for r in resumed] == [2, 4]
    assert resumed[1]["train_loss"] == pytest.approx(uninterrupted[1]["train_loss"], rel=1e-3)
    assert resumed[1]["val_loss"] == pytest.approx(uninterrupted[1]["val_loss"], rel=1e-3)


@needs_bnb
def test_qlora_merge_generates_what_the_adapter_generates(workspace: Path,
                                                          tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from codesweep.config.schema import QuantizationConfig
    from codesweep.export import export_checkpoint
    from codesweep.models.factory import load_base_model, load_tokenizer
    from codesweep.models.quantization import bnb_config

    train(workspace, "qlora-export", model=QLORA, train={"max_steps": 20, "report_every": 10})
    checkpoint = workspace / "qlora-export" / "checkpoint_20"
    recipe = recipe_for(workspace, model=QLORA)
    said: list[str] = []
    export_checkpoint(str(workspace / "llama"), checkpoint, tmp_path / "merged", merge=True,
                      recipe=recipe, log=said.append)
    assert any("dequantizing" in line for line in said)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", dtype=torch.bfloat16)
    quantized = load_base_model(workspace / "llama", "bfloat16", device_map={"": 0},
                                quantization_config=bnb_config(QuantizationConfig(bits=4)))
    adapter = PeftModel.from_pretrained(quantized.dequantize(), str(checkpoint))
    tokenizer = load_tokenizer(workspace / "llama")
    merged.to("cuda:0")
    for prompt in PROMPTS:
        assert continuation(merged, tokenizer, prompt) == continuation(
            adapter, tokenizer, prompt), prompt
    # A tiny model's greedy tokens can agree by chance: the logits must agree too, far closer
    # than the adapter moved them away from the base.
    ids = tokenizer(PROMPTS[0], return_tensors="pt")["input_ids"].to("cuda:0")
    with torch.no_grad():
        merged_logits, adapter_logits = merged(ids).logits, adapter(ids).logits
        with adapter.disable_adapter():
            base_logits = adapter(ids).logits
    moved = (adapter_logits - base_logits).abs().max().item()
    assert moved > 0 and (merged_logits - adapter_logits).abs().max().item() < 0.25 * moved


def continuation(model, tokenizer, prompt: str) -> list[int]:
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = model.eval().generate(input_ids=ids.to("cuda:0"), max_new_tokens=8,
                                    do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return out[0, ids.shape[1]:].tolist()


def test_bf16_lora_trains_fp32_adapter_weights(workspace: Path) -> None:
    from codesweep.train.engine import make_engine

    net, tokenizer, recipe = loaded(workspace, model=BF16)
    trainable = {name: p for name, p in net.named_parameters() if p.requires_grad}
    frozen = [p for p in net.parameters() if not p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable.values())
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)
    loss = make_engine(net, recipe, 1, lambda m: m).step([fixed_batch(tokenizer)])
    assert math.isfinite(loss)
    assert all(p.dtype == torch.float32 for p in trainable.values())
    train(workspace, "lora-bf16", model=BF16)


@needs_ds
def test_full_fine_tune_zero3(workspace: Path) -> None:
    train(workspace, "full-z3", model=BF16, train={
        "max_steps": 4, "report_every": 2, "method": "full", "deepspeed": {"stage": 3}})
    assert (workspace / "full-z3" / "checkpoint_4" / "pytorch_model.bin").is_file()
