"""The GPU combinations we ship, run in one process (no Ray needed): LoRA bf16, QLoRA 4-bit,
8-bit, LoRA + ZeRO-2, QLoRA + ZeRO-2, full fine-tune + ZeRO-3. Skipped without CUDA or
without the `gpu` extra (bitsandbytes, deepspeed)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from test_train_tasks import make_workspace, task_spec

from codesweep.train.local import run_local

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
needs_bnb = pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                               reason="needs bitsandbytes")
needs_ds = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                              reason="needs deepspeed")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("gpu"))


def train(workspace: Path, name: str, **sections: dict) -> list[dict]:
    spec = task_spec(workspace, **{"train": {"max_steps": 4, "report_every": 2}, **sections})
    out = workspace / name
    run_local(spec, out)
    reports = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in reports] == [2, 4]
    assert all(math.isfinite(r["train_loss"]) for r in reports)
    return reports


def test_lora_bf16(workspace: Path) -> None:
    train(workspace, "lora-bf16", model={"dtype": "bfloat16"})


@needs_bnb
def test_qlora_4bit_nf4_and_merge_export(workspace: Path, tmp_path: Path) -> None:
    from codesweep.export import export_checkpoint

    sections = {"model": {"dtype": "bfloat16", "quantization": {"bits": 4}}}
    train(workspace, "qlora", **sections)
    recipe = task_spec(workspace, **sections).recipe
    said: list[str] = []
    export_checkpoint(str(workspace / "llama"), workspace / "qlora" / "checkpoint_4",
                      tmp_path / "merged", merge=True, recipe=recipe, log=said.append)
    assert any("dequantizing" in line for line in said)
    assert (tmp_path / "merged" / "config.json").is_file()


@needs_bnb
def test_8bit(workspace: Path) -> None:
    train(workspace, "int8", model={"quantization": {"bits": 8}})


@needs_ds
def test_lora_zero2(workspace: Path) -> None:
    train(workspace, "lora-z2", model={"dtype": "bfloat16"}, train={
        "max_steps": 4, "report_every": 2, "deepspeed": {"stage": 2}})


@needs_ds
@needs_bnb
def test_qlora_zero2(workspace: Path) -> None:
    train(workspace, "qlora-z2", model={"dtype": "bfloat16", "quantization": {"bits": 4}},
          train={"max_steps": 4, "report_every": 2, "deepspeed": {"stage": 2}})


@needs_ds
def test_full_fine_tune_zero3(workspace: Path) -> None:
    train(workspace, "full-z3", model={"dtype": "bfloat16"}, train={
        "max_steps": 4, "report_every": 2, "method": "full", "deepspeed": {"stage": 3}})
    assert (workspace / "full-z3" / "checkpoint_4" / "pytorch_model.bin").is_file()
