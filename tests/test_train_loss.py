"""Per-token loss: one optimizer step over accumulated micro batches has the loss and the
gradients of one big batch of the same examples, however unequal their target counts."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest
import torch

from codesweep.config.schema import TinyModelConfig
from codesweep.models.factory import build_tiny_model, build_tiny_seq2seq, train_tokenizer
from codesweep.train.batches import encode_pairs
from codesweep.train.engine import TorchEngine

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TINY = TinyModelConfig(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2,
                       intermediate_size=64, pretrain_steps=0)
# Unequal prompts and completions: micro batches of 2 hold very different target counts.
PAIRS = [("import os\n", "print(os.sep)"),
         ("def add(a, b):\n" * 4, "    return a + b"),
         ("x = 1\n", "y = [x for x in range(10) if x % 2 == 0 and x > 3]"),
         ("class A:\n    pass\n" * 3, "a = A()"),
         ("# the answer\n", "answer = 42"),
         ("for i in range(3):\n" * 2, "    print(i, i * i, i ** 3, sep=', ', end='\\n')")]


@pytest.fixture(scope="module")
def tokenizer():
    texts = [p.read_text(encoding="utf-8") for p in sorted(STDLIB.glob("[a-c]*.py"))[:12]]
    return train_tokenizer(texts, TINY.vocab_size)


def engine_for(model, seq2seq: bool = False) -> TorchEngine:
    return TorchEngine(model, model, optimizer=None, scheduler=None, max_grad_norm=1.0,
                       seq2seq=seq2seq)


def gradients(model) -> dict[str, torch.Tensor]:
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


@pytest.mark.parametrize("seq2seq", [False, True], ids=["causal", "seq2seq"])
def test_accumulated_step_equals_one_big_batch(tokenizer, seq2seq: bool) -> None:
    torch.manual_seed(0)
    build = build_tiny_seq2seq if seq2seq else build_tiny_model
    model = build(TINY, tokenizer).eval()  # eval: no dropout, both passes see the same net
    rows = encode_pairs(PAIRS, tokenizer, 48, len(PAIRS), packing=False, completion_only=True,
                        seq2seq=seq2seq)
    micro = [rows.micro_batch(index, 2) for index in range(3)]
    big = [rows.micro_batch(0, len(PAIRS))]
    engine = engine_for(model, seq2seq)

    accumulated, accumulated_grads = engine.accumulate(micro), gradients(model)
    single, single_grads = engine.accumulate(big), gradients(model)

    assert accumulated == pytest.approx(single, rel=1e-5)
    assert accumulated_grads.keys() == single_grads.keys() and accumulated_grads
    for name, grad in single_grads.items():
        torch.testing.assert_close(accumulated_grads[name], grad, rtol=1e-4, atol=1e-7,
                                   msg=name)
    # The examples are unequal enough that a mean of per-micro-batch means is off.
    with torch.no_grad():
        mean_of_means = sum(model(**batch).loss.item() for batch in micro) / len(micro)
    assert abs(mean_of_means - single) > 1e-3


def test_packed_step_equals_one_big_batch(tokenizer) -> None:
    """Packed per-document rows (no padding, position ids) normalise per token too."""
    torch.manual_seed(0)
    model = build_tiny_model(TINY, tokenizer).eval()
    rows = encode_pairs(PAIRS * 4, tokenizer, 24, 100, packing=True, completion_only=True,
                        seq2seq=False)
    count = len(rows) - len(rows) % 2
    engine = engine_for(model)
    accumulated = engine.accumulate([rows.micro_batch(i, 2) for i in range(count // 2)])
    accumulated_grads = gradients(model)
    single = engine.accumulate([rows.micro_batch(0, count)])
    assert accumulated == pytest.approx(single, rel=1e-5)
    for name, grad in gradients(model).items():
        torch.testing.assert_close(accumulated_grads[name], grad, rtol=1e-4, atol=1e-7,
                                   msg=name)


def _ddp_rank(rank: int, world: int, port: int, tokenizer, out: str) -> None:
    """One DDP worker (gloo): its share of the examples, one accumulated step."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_tiny_model(TINY, tokenizer).eval()
    engine = TorchEngine(model, DistributedDataParallel(model), optimizer=None, scheduler=None,
                         max_grad_norm=1.0, world_size=world)
    rows = encode_pairs(PAIRS, tokenizer, 48, len(PAIRS), packing=False, completion_only=True,
                        seq2seq=False).select(slice(rank, None, world))
    loss = engine.accumulate([rows.micro_batch(index, 1) for index in range(len(rows))])
    if rank == 0:
        torch.save({"loss": loss, "grads": gradients(model)}, out)
    dist.destroy_process_group()


def test_ddp_workers_share_one_per_token_loss(tokenizer, tmp_path: Path) -> None:
    """Two workers with unequal target counts: all-reduced token counts give the gradients
    of one big batch, not the mean of two per-worker means."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "rank0.pt"
    mp.spawn(_ddp_rank, args=(2, port, tokenizer, str(out)), nprocs=2, join=True)
    distributed = torch.load(out)
    torch.manual_seed(0)
    model = build_tiny_model(TINY, tokenizer).eval()
    rows = encode_pairs(PAIRS, tokenizer, 48, len(PAIRS), packing=False, completion_only=True,
                        seq2seq=False)
    single = engine_for(model).accumulate([rows.micro_batch(0, len(PAIRS))])
    assert distributed["loss"] == pytest.approx(single, rel=1e-5)
    for name, grad in gradients(model).items():
        torch.testing.assert_close(distributed["grads"][name], grad, rtol=1e-4, atol=1e-7,
                                   msg=name)
