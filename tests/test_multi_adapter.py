"""Mixed-adapter batches over one base give the same greedy predictions as loading and merging
each checkpoint on its own (today's path), for adapters of different shapes in one batch."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest
import torch

from codesweep.config.schema import GenerationConfig, TinyModelConfig
from codesweep.errors import CodesweepError
from codesweep.evaluation.generate import generate, load_for_generation
from codesweep.evaluation.multi_adapter import BASE, MultiAdapterEngine
from codesweep.models.factory import build_tiny_model, save_atomically, train_tokenizer

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TINY = TinyModelConfig(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2,
                       intermediate_size=64, pretrain_steps=0)
# Adapters that differ in rank, scaling, target modules and variant.
ADAPTERS = {
    "all_r4": {"r": 4, "lora_alpha": 8, "target_modules": "all-linear"},
    "attn_r8": {"r": 8, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"]},
    "mlp_r2": {"r": 2, "lora_alpha": 2, "target_modules": ["gate_proj", "down_proj"]},
    "dora_r4": {"r": 4, "lora_alpha": 8, "target_modules": ["o_proj", "up_proj"],
                "use_dora": True},
}
GEN = GenerationConfig(max_new_tokens=12, stop=["\n\n", "return"], batch_size=3)


def source_prompts() -> list[str]:
    """Prompts of different lengths cut from stdlib code."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(STDLIB.glob("[a-c]*.py"))[:8]]
    return [text[100 * i: 100 * i + 40 + 37 * i] for i, text in enumerate(texts)]


def save_adapter(base_dir: Path, target: Path, settings: dict, seed: int) -> None:
    """A LoRA adapter with random non-zero B matrices (and DoRA magnitudes), so that each
    adapter changes the greedy outputs of the tiny model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                           LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, **settings))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=1.0)
        elif "lora_magnitude" in name:  # DoRA: rescale columns too
            param.data.mul_(torch.rand_like(param) * 4)
    model.save_pretrained(target)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("multi")
    tokenizer = train_tokenizer(source_prompts() * 5, TINY.vocab_size)
    torch.manual_seed(0)
    save_atomically(build_tiny_model(TINY, tokenizer), tokenizer, root / "model")
    for seed, (name, settings) in enumerate(ADAPTERS.items(), start=1):
        save_adapter(root / "model", root / name, settings, seed)
    return root


def merged_predictions(workspace: Path, adapter: str | None, prompts: list[str]) -> list[str]:
    """Today's path: load the base, merge one adapter, generate in plain batches."""
    path = str(workspace / adapter) if adapter else None
    model, tokenizer = load_for_generation(str(workspace / "model"), path, "float32")
    return generate(model, tokenizer, prompts, GEN)


def test_mixed_batches_match_per_checkpoint_merged_generation(workspace: Path) -> None:
    prompts = source_prompts()
    engine = MultiAdapterEngine(str(workspace / "model"), "float32")
    for name in ADAPTERS:
        engine.add_adapter(name, workspace / name)
    # Interleave adapters so every batch mixes several of them and the base.
    names = [BASE, *ADAPTERS]
    requests = [(names[(i + j) % len(names)], prompt)
                for j in range(len(names)) for i, prompt in enumerate(prompts)]
    mixed = engine.generate(requests, GEN)
    expected = {name: merged_predictions(workspace, None if name == BASE else name, prompts)
                for name in names}
    for (name, prompt), prediction in zip(requests, mixed, strict=True):
        assert prediction == expected[name][prompts.index(prompt)], (name, prompt)
    # The adapters really change the outputs (else the comparison above proves nothing).
    distinct = {tuple(preds) for preds in expected.values()}
    assert len(distinct) == len(names), [preds[:2] for preds in expected.values()]


def test_unknown_adapter_and_non_adapter_checkpoints_are_refused(workspace: Path) -> None:
    engine = MultiAdapterEngine(str(workspace / "model"), "float32")
    engine.add_adapter("all_r4", workspace / "all_r4")
    with pytest.raises(CodesweepError, match="unknown adapter.*typo"):
        engine.generate([("typo", "def f():")], GEN)
    with pytest.raises(CodesweepError, match="not a plain LoRA adapter"):
        engine.add_adapter("full", workspace / "model")
    with pytest.raises(CodesweepError, match="is taken"):
        engine.add_adapter("all_r4", workspace / "all_r4")
