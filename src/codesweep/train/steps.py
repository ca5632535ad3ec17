"""Pieces shared by pre-training and LoRA fine-tuning: optimizer, schedule, loss, seeding."""

from __future__ import annotations

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
def mean_loss(model: Any, blocks: np.ndarray, batch_size: int) -> float:
    """Average loss over blocks (evaluation mode), NaN when there are none."""
    if len(blocks) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    losses = [causal_lm_loss(model, torch.from_numpy(blocks[i:i + batch_size])).item()
              * len(blocks[i:i + batch_size]) for i in range(0, len(blocks), batch_size)]
    model.train(was_training)
    return float(sum(losses) / len(blocks))
