"""Brief full-parameter pre-training of the embedded tiny base (in-process, cached by caller)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import torch

from codesweep.config.schema import OptimConfig, TinyModelConfig
from codesweep.errors import CodesweepError
from codesweep.train.data import iter_blocks
from codesweep.train.steps import causal_lm_loss, make_optimizer, seed_everything


def pretrain(model: Any, tokenizer: Any, texts: Iterable[str], cfg: TinyModelConfig,
             log: Callable[[str], None] = print) -> list[float]:
    """Train all weights for `cfg.pretrain_steps` steps on packed blocks; return the losses."""
    seed_everything(0)
    optim = OptimConfig(lr=cfg.pretrain_lr, warmup_steps=max(1, cfg.pretrain_steps // 10))
    optimizer, scheduler = make_optimizer(model.parameters(), optim, cfg.pretrain_steps)
    blocks = itertools.cycle(_batches(texts, tokenizer, cfg))
    losses: list[float] = []
    model.train()
    for step in range(1, cfg.pretrain_steps + 1):
        loss = _loss(model, next(blocks))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 25 == 0 or step == cfg.pretrain_steps:
            log(f"  pre-train step {step}/{cfg.pretrain_steps} loss {loss.item():.3f}")
    return losses


def _loss(model: Any, block: torch.Tensor) -> torch.Tensor:
    """Causal LM: next token everywhere. Encoder-decoder: the first half of each block is the
    encoder input and the decoder continues it (a prefix-LM warm start for seq2seq tasks)."""
    if not model.config.is_encoder_decoder:
        return causal_lm_loss(model, block)
    half = block.shape[1] // 2
    return model(input_ids=block[:, :half], labels=block[:, half:]).loss


def _batches(texts: Iterable[str], tokenizer: Any, cfg: TinyModelConfig) -> list[torch.Tensor]:
    # Materialise just enough batches for the step budget; cycling repeats them if short.
    needed = cfg.pretrain_steps * cfg.pretrain_batch_size
    blocks = [torch.from_numpy(b) for b in
              itertools.islice(iter_blocks(texts, tokenizer, cfg.pretrain_window), needed)]
    # Shuffle so consecutive steps see different files (the corpus order groups by file).
    order = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(0)).tolist()
    blocks = [blocks[i] for i in order]
    size = cfg.pretrain_batch_size
    batches = [torch.stack(blocks[i:i + size]) for i in range(0, len(blocks) - size + 1, size)]
    if not batches:
        raise CodesweepError("the train split has too little text to fill one pre-training batch")
    return batches
