"""Packing without cross-talk: in a packed row, a token's logits are those of its document
run alone (per_document), through transformers' own packed-sequence path (sdpa) and through
the explicit block-diagonal mask (eager, or forced); `shared` lets documents see each other."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

from codesweep.config.schema import TinyModelConfig, TuningRecipe
from codesweep.models.factory import build_tiny_model, save_atomically, train_tokenizer
from codesweep.train.batches import (
    IGNORE,
    document_mask,
    encode_files,
    encode_pairs,
    explicit_mask_dtype,
)
from codesweep.train.loop import set_up_packing

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TINY = TinyModelConfig(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2,
                       intermediate_size=64, pretrain_steps=0)
PAIRS = [(f"# step {i}\n" * (1 + i % 3), f"value = {i} * {i % 5}") for i in range(12)]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory):
    texts = [p.read_text(encoding="utf-8") for p in sorted(STDLIB.glob("[a-c]*.py"))[:12]]
    tokenizer = train_tokenizer(texts, TINY.vocab_size)
    torch.manual_seed(0)
    target = tmp_path_factory.mktemp("packing") / "llama"
    save_atomically(build_tiny_model(TINY, tokenizer), tokenizer, target)
    return target, tokenizer


def load(path: Path, attn: str, packing_attention: str = "per_document"):
    """The model with `attn`, set up for packed rows as the training loop does it; and the
    explicit mask dtype the loop would use."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=attn).eval()
    recipe = TuningRecipe(name="t", pipeline="p.yaml", model={"name_or_path": str(path)},
                          data={"packing": True, "packing_attention": packing_attention})
    return model, set_up_packing(model, recipe)


def documents(position_ids: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each document of a packed row."""
    starts = [int(i) for i in np.flatnonzero(position_ids == 0)]
    return list(zip(starts, [*starts[1:], len(position_ids)], strict=True))


def packed_and_alone(model, rows) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(logits in the packed row, logits of the document alone) for every document of row 0."""
    batch = rows.micro_batch(0, 1)
    inputs = {name: value for name, value in batch.items() if name != "labels"}
    with torch.no_grad():
        packed = model(**inputs).logits[0]
        pairs = []
        for start, end in documents(rows.arrays["position_ids"][0]):
            alone = model(input_ids=batch["input_ids"][:, start:end]).logits[0]
            pairs.append((packed[start:end], alone))
    return pairs


@pytest.mark.parametrize(("attn", "force_mask"), [("sdpa", False), ("eager", False),
                                                  ("sdpa", True)],
                         ids=["sdpa-position-ids", "eager-explicit-mask", "sdpa-explicit-mask"])
def test_packed_token_sees_only_its_document(saved, attn: str, force_mask: bool) -> None:
    path, tokenizer = saved
    model, dtype = load(path, attn)
    rows = encode_pairs(PAIRS, tokenizer, 64, 4, packing=True, completion_only=True,
                        seq2seq=False)
    assert (dtype is None) == (attn == "sdpa")
    dtype = explicit_mask_dtype("eager", torch.float32) if force_mask else dtype
    pairs = packed_and_alone(model, rows.with_explicit_mask(dtype))
    assert len(pairs) >= 3  # several documents in the row
    for packed, alone in pairs:
        torch.testing.assert_close(packed, alone, rtol=1e-4, atol=1e-5)


def test_shared_attention_lets_documents_see_each_other(saved) -> None:
    """The control: the same check fails when packing shares attention across documents."""
    path, tokenizer = saved
    model, dtype = load(path, "sdpa", "shared")
    assert dtype is None
    per_document = encode_pairs(PAIRS, tokenizer, 64, 4, packing=True, completion_only=True,
                                seq2seq=False)
    shared = encode_pairs(PAIRS, tokenizer, 64, 4, packing=True, completion_only=True,
                          seq2seq=False, per_document=False)
    assert "position_ids" not in shared.arrays
    shared.arrays["position_ids"] = per_document.arrays["position_ids"]  # to cut documents
    batch = {"input_ids": torch.from_numpy(shared.arrays["input_ids"][:1])}
    with torch.no_grad():
        packed = model(**batch).logits[0]
        start, end = documents(shared.arrays["position_ids"][0])[1]
        alone = model(input_ids=batch["input_ids"][:, start:end]).logits[0]
    assert not torch.allclose(packed[start:end], alone, rtol=1e-4, atol=1e-5)


def test_positions_restart_and_first_token_is_no_target(saved) -> None:
    _, tokenizer = saved
    texts = ["a = 1\n", "def f():\n    return 2\n", "print('x')\n" * 3] * 6
    rows = encode_files(texts, tokenizer, 32, 10)
    positions, labels = rows.arrays["position_ids"], rows.arrays["labels"]
    assert (positions[:, 0] == 0).all()
    inside = positions[:, 1:] == 0  # documents starting inside a row (a row's first label
    assert inside.any()               # is never a target: nothing precedes it)
    assert (labels[:, 1:][inside] == IGNORE).all()  # not predicted from another document
    later = positions > 0
    assert (labels[later] == rows.arrays["input_ids"][later]).all()
    steps = np.diff(positions, axis=1)
    assert ((steps == 1) | (positions[:, 1:] == 0)).all()


def test_document_mask_is_causal_and_block_diagonal() -> None:
    mask = document_mask(torch.tensor([[0, 1, 2, 0, 1]]), torch.float32)[0, 0] == 0
    expected = torch.tensor([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0],
                             [0, 0, 0, 1, 0], [0, 0, 0, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask, expected)
