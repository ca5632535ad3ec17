"""A tiny base model, LoRA checkpoints of it that decode differently, and a prepared
completion task: what the evaluation tests score."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pandas as pd
import torch

from codesweep.config.schema import TinyModelConfig
from codesweep.models.factory import build_tiny_model, save_atomically, train_tokenizer
from codesweep.records import PreparedDataRef

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TINY = TinyModelConfig(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2,
                       intermediate_size=64, pretrain_steps=0)


def make_base(root: Path, seed: int = 0) -> tuple[Path, list[str]]:
    """A tiny model saved under root/model; returns it and the texts its tokenizer saw."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(STDLIB.glob("[a-c]*.py"))[:6]]
    tokenizer = train_tokenizer(texts, TINY.vocab_size)
    torch.manual_seed(seed)
    save_atomically(build_tiny_model(TINY, tokenizer), tokenizer, root / "model")
    return root / "model", texts


def save_adapter(base: Path, directory: Path, seed: int, step: int) -> Path:
    """A LoRA checkpoint with random (non-zero) B matrices, so it decodes unlike the base;
    with step.pt as training writes it."""
    from peft import LoraConfig, get_peft_model

    from codesweep.models.factory import load_base_model

    torch.manual_seed(seed)
    model = get_peft_model(load_base_model(str(base), "float32"),
                           LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear"))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.save_pretrained(directory)
    torch.save({"step": step}, directory / "step.pt")
    return directory


def make_prepared(root: Path, texts: list[str], key: str = "k1") -> PreparedDataRef:
    """tasks/completion/test with 6 examples."""
    split = root / "prepared" / "tasks" / "completion" / "test"
    split.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": [f"{i:02d}" for i in range(6)], "prompt": [t[:60] for t in texts],
                  "completion": [t[60:80] for t in texts]}).to_parquet(split / "part-0.parquet")
    return PreparedDataRef(root=str(root / "prepared"), key=key)
