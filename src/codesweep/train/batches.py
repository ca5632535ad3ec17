"""Training examples as padded token arrays, and the micro batches cut from them.

Three encodings:
  * raw files (causal LM): texts joined with EOS and cut into full windows (packing);
    every token is a target.
  * prompt -> completion (causal LM): prompt + completion + EOS, with the prompt's labels
    set to -100 so the loss covers the completion only; one example per row, padded, or
    packed into full windows when `data.packing` is on.
  * prompt -> completion (encoder-decoder): the prompt is the encoder input, the completion
    plus EOS the decoder labels.

Packed sequences can attend to each other inside a window: there is no block-diagonal
mask. That is the usual trade (no padding wasted, a little cross-example context leaks in);
turn `data.packing` off when examples must be seen in isolation.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from codesweep.errors import CodesweepError
from codesweep.train.data import take_blocks

IGNORE = -100  # label id the loss skips


@dataclass
class Batches:
    """Equal-length rows of model inputs: input_ids, labels, attention_mask (numpy, int64)."""

    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["input_ids"])

    def select(self, rows: Any) -> Batches:
        """The rows at `rows` (a slice or an index array)."""
        return Batches({name: array[rows] for name, array in self.arrays.items()})

    def micro_batch(self, index: int, size: int, device: Any = "cpu") -> dict[str, torch.Tensor]:
        """Micro batch `index` of `size` rows, trimmed to its longest row, on `device`."""
        rows = self.select(slice(index * size, (index + 1) * size)).arrays
        # Rows are right-padded: columns that are padding in every row are wasted work.
        inputs = _longest(rows.get("attention_mask"))
        outputs = _longest(rows.get("decoder_mask")) if "decoder_mask" in rows else inputs
        batch = {}
        for name, array in rows.items():
            if name == "decoder_mask":
                continue  # bookkeeping only: the model derives its decoder mask from labels
            length = outputs if name == "labels" else inputs
            batch[name] = torch.from_numpy(np.ascontiguousarray(array[:, :length])).to(device)
        return batch

    def target_tokens(self) -> int:
        """How many label positions count in the loss."""
        return int((self.arrays["labels"] != IGNORE).sum())


def _longest(mask: np.ndarray | None) -> int | None:
    return max(1, int(mask.sum(axis=1).max())) if mask is not None and len(mask) else None


def encode_files(texts: Iterable[str], tokenizer: Any, window: int, limit: int) -> Batches:
    """Packed windows of raw text; labels are the inputs (next-token prediction everywhere)."""
    blocks = take_blocks(texts, tokenizer, window, limit)
    return Batches({"input_ids": blocks, "labels": blocks.copy()})


def encode_pairs(pairs: Iterable[tuple[str, str]], tokenizer: Any, window: int, limit: int,
                 *, packing: bool, completion_only: bool, seq2seq: bool) -> Batches:
    """Prompt -> completion examples, up to `limit` rows, encoded for training."""
    if seq2seq:
        if packing:
            raise CodesweepError("data.packing: not supported for encoder-decoder models; "
                                 "set it to false")
        return _seq2seq(itertools.islice(pairs, limit), tokenizer, window)
    encoded = (_causal_example(p, c, tokenizer, window, completion_only) for p, c in pairs)
    if packing:
        return _pack(encoded, window, limit, tokenizer.eos_token_id)
    return _pad_rows(list(itertools.islice(encoded, limit)), window, tokenizer.pad_token_id)


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _causal_example(prompt: str, completion: str, tokenizer: Any, window: int,
                    completion_only: bool) -> tuple[list[int], list[int]]:
    """(ids, labels) of one example; long prompts lose their start, the completion is kept."""
    target = (_ids(tokenizer, completion) + [tokenizer.eos_token_id])[:window]
    context = _ids(tokenizer, prompt)[-(window - len(target)):] if len(target) < window else []
    ids = context + target
    labels = ([IGNORE] * len(context) + target) if completion_only else list(ids)
    return ids, labels


def _pad_rows(examples: list[tuple[list[int], list[int]]], window: int, pad: int) -> Batches:
    ids = np.full((len(examples), window), pad, dtype=np.int64)
    labels = np.full((len(examples), window), IGNORE, dtype=np.int64)
    mask = np.zeros((len(examples), window), dtype=np.int64)
    for row, (example_ids, example_labels) in enumerate(examples):
        ids[row, :len(example_ids)] = example_ids
        labels[row, :len(example_labels)] = example_labels
        mask[row, :len(example_ids)] = 1
    return Batches({"input_ids": ids, "labels": labels, "attention_mask": mask})


def _pack(examples: Iterable[tuple[list[int], list[int]]], window: int, limit: int,
          eos: int) -> Batches:
    """Concatenate examples and cut full windows; label masks travel with their tokens."""
    ids_buffer: list[int] = []
    label_buffer: list[int] = []
    rows_ids, rows_labels = [], []
    for ids, labels in examples:
        ids_buffer.extend(ids)
        label_buffer.extend(labels)
        while len(ids_buffer) >= window and len(rows_ids) < limit:
            rows_ids.append(ids_buffer[:window])
            rows_labels.append(label_buffer[:window])
            del ids_buffer[:window], label_buffer[:window]
        if len(rows_ids) >= limit:
            break
    shape = (len(rows_ids), window)
    return Batches({"input_ids": np.asarray(rows_ids, dtype=np.int64).reshape(shape),
                    "labels": np.asarray(rows_labels, dtype=np.int64).reshape(shape)})


def _seq2seq(pairs: Iterable[tuple[str, str]], tokenizer: Any, window: int) -> Batches:
    """Encoder inputs (prompt + EOS, start cut when long) and decoder labels (completion + EOS)."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    sources, targets = [], []
    for prompt, completion in pairs:
        source = _ids(tokenizer, prompt)[-(window - 1):] + [eos]
        target = (_ids(tokenizer, completion) + [eos])[:window]
        sources.append((source, source))
        targets.append((target, target))
    encoder = _pad_rows(sources, window, pad).arrays
    decoder = _pad_rows(targets, window, pad).arrays
    return Batches({"input_ids": encoder["input_ids"], "attention_mask": encoder["attention_mask"],
                    "labels": decoder["labels"], "decoder_mask": decoder["attention_mask"]})
