"""Pieces shared by pre-training and LoRA fine-tuning: optimizer, schedule, loss, seeding."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch

from codesweep.config.schema import OptimConfig

IGNORE = -100  # label id the loss skips (as in transformers)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch so a run repeats exactly on the same machine."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(params: Any, optim: OptimConfig, max_steps: int) -> tuple[Any, Any]:
    """AdamW plus a warmup-then-decay schedule from transformers."""
    from transformers import get_scheduler

    optimizer = torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}
    scheduler = get_scheduler(name[optim.schedule], optimizer,
                              num_warmup_steps=min(optim.warmup_steps, max_steps),
                              num_training_steps=max_steps)
    return optimizer, scheduler


def causal_lm_loss(model: Any, input_ids: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy over every position of packed blocks."""
    return model(input_ids=input_ids, labels=input_ids).loss


def loss_tokens(batch: dict[str, torch.Tensor], seq2seq: bool) -> int:
    """How many positions of `batch` the loss covers (a causal LM's labels shift by one)."""
    labels = batch["labels"] if seq2seq else batch["labels"][:, 1:]
    return int((labels != IGNORE).sum())


def summed_loss(model: Any, batch: dict[str, torch.Tensor], seq2seq: bool) -> torch.Tensor:
    """Sum (not mean) of the token cross-entropies of `batch`: means over micro batches and
    workers are then taken per token, not per batch."""
    if seq2seq:  # the model builds its decoder inputs from the labels
        logits, labels = model(**batch).logits, batch["labels"]
    else:
        inputs = {name: value for name, value in batch.items() if name != "labels"}
        logits, labels = model(**inputs).logits[:, :-1], batch["labels"][:, 1:]
    return torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
        ignore_index=IGNORE, reduction="sum")


@torch.no_grad()
def loss_totals(model: Any, rows: Any, batch_size: int, device: Any = "cpu",
                seq2seq: bool = False) -> tuple[float, int]:
    """(sum of token losses, loss tokens) over `rows` (a `Batches`) in evaluation mode."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for index in range(-(-len(rows) // batch_size)):
        batch = rows.micro_batch(index, batch_size, device)
        total += summed_loss(model, batch, seq2seq).item()
        tokens += loss_tokens(batch, seq2seq)
    model.train(was_training)
    return total, tokens


def mean_loss(model: Any, rows: Any, batch_size: int, device: Any = "cpu",
              seq2seq: bool = False) -> float:
    """Per-token loss over `rows` (a `Batches`) in evaluation mode, NaN when there are none."""
    total, tokens = loss_totals(model, rows, batch_size, device, seq2seq)
    return total / tokens if tokens else float("nan")


def global_sum(*values: float) -> list[float]:
    """`values` summed over all workers (all-reduce when distributed)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return list(values)
    both = torch.tensor(values, dtype=torch.float64)
    if torch.distributed.get_backend() == "nccl":
        both = both.cuda()
    torch.distributed.all_reduce(both)
    return both.tolist()


def global_mean(total: float, count: float) -> float:
    """Mean over all workers (all-reduce when distributed), NaN when nothing was counted."""
    if math.isnan(total):
        total, count = 0.0, 0
    total, count = global_sum(total, float(count))
    return total / count if count else float("nan")
