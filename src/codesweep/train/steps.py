"""Pieces shared by pre-training and LoRA fine-tuning: optimizer, schedule, loss, seeding."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch

from codesweep.config.schema import OptimConfig


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


@torch.no_grad()
def mean_loss(model: Any, rows: Any, batch_size: int, device: Any = "cpu") -> float:
    """Average loss over `rows` (a `Batches`) in evaluation mode, NaN when there are none."""
    if len(rows) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    total = 0.0
    for index in range(-(-len(rows) // batch_size)):
        batch = rows.micro_batch(index, batch_size, device)
        total += model(**batch).loss.item() * len(batch["input_ids"])
    model.train(was_training)
    return total / len(rows)


def global_mean(total: float, count: float) -> float:
    """Mean over all workers (all-reduce when distributed), NaN when nothing was counted."""
    if math.isnan(total):
        total, count = 0.0, 0
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        both = torch.tensor([total, float(count)], dtype=torch.float64)
        if torch.distributed.get_backend() == "nccl":
            both = both.cuda()
        torch.distributed.all_reduce(both)
        total, count = both.tolist()
    return total / count if count else float("nan")
