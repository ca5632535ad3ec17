"""The embedded tiny base: a BPE fit on the train split, a small model built from a config and
briefly pre-trained on all weights, cached under the cache root by a content hash."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from codesweep import integrity
from codesweep.config.schema import OptimConfig, TinyModelConfig
from codesweep.errors import CodesweepError
from codesweep.fileio import write_atomic, write_json
from codesweep.models.factory import (
    build_tiny_model,
    build_tiny_seq2seq,
    train_tokenizer,
)
from codesweep.train.data import iter_blocks
from codesweep.train.steps import causal_lm_loss, make_optimizer, seed_everything

INTEGRITY = "integrity.json"  # sizes and checksums of the saved base's files
PRETRAIN_READS = "train split from its end"  # in the key: a base read otherwise is another base


def tiny_model_key(cfg: TinyModelConfig, data_key: str) -> str:
    """Cache key of the tiny base: its config plus the prepared data it was trained on."""
    payload = json.dumps({"tiny": cfg.model_dump(), "data": data_key,
                          "reads": PRETRAIN_READS}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def ensure_tiny_base(
    cfg: TinyModelConfig, train_texts: Callable[[], Iterable[str]], data_key: str,
    cache_root: Path, log: Callable[[str], None] = print, verify: bool = False,
) -> tuple[Path, bool]:
    """Return (directory of the cached tiny base, reused?) building it on a cache miss, or
    when its files differ from the checksums recorded when it was saved (every byte checked
    with `verify`, else sizes and file ends)."""
    target = cache_root / "models" / f"tiny-{tiny_model_key(cfg, data_key)}"
    if (target / "config.json").is_file():
        problem = check_base(target, full=verify)
        if problem is None:
            return target, True
        log(f"rebuilding the tiny base: {problem}")
    build_tiny_base(cfg, train_texts, target, log)
    return target, False


def check_base(directory: Path, full: bool = False) -> str | None:
    """Why a cached base cannot be reused (one line), or None when it matches its record."""
    record_path = directory / INTEGRITY
    if not record_path.is_file():
        return f"{record_path}: missing (the base was saved by an older version, or cut short)"
    recorded = json.loads(record_path.read_text())
    problems = integrity.verify(directory, recorded, exclude=(INTEGRITY,), full=full)
    return integrity.describe(directory, problems) if problems else None


def build_tiny_base(cfg: TinyModelConfig, train_texts: Callable[[], Iterable[str]],
                    target: Path, log: Callable[[str], None]) -> None:
    """Fit the tokenizer, build and pre-train the model, save it with its file record."""
    log(f"training a {cfg.vocab_size}-token BPE on {cfg.tokenizer_sample_files} train files")
    sample = list(itertools.islice(train_texts(), cfg.tokenizer_sample_files))
    if not sample:
        raise CodesweepError("the train split is empty: nothing to train a tokenizer on")
    tokenizer = train_tokenizer(sample, cfg.vocab_size)
    build = build_tiny_seq2seq if cfg.architecture == "t5" else build_tiny_model
    seed_everything(0)  # the initial weights too: a rebuilt base is the same base
    model = build(cfg, tokenizer)
    if cfg.pretrain_steps:
        log(f"pre-training the tiny base for {cfg.pretrain_steps} steps (cached afterwards)")
        pretrain(model, tokenizer, train_texts(), cfg, log)
    save_with_record(model, tokenizer, target)


def save_with_record(model: Any, tokenizer: Any, target: Path) -> None:
    """Save into a temporary sibling together with the record of its files, then rename
    onto `target` (a corrupt base being rebuilt is removed first)."""
    def save(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_json(staging / INTEGRITY, integrity.record(staging, exclude=(INTEGRITY,)))

    if target.exists():
        shutil.rmtree(target)
    write_atomic(target, save)


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
