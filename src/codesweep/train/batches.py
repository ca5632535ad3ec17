"""Training examples as padded token arrays, and the micro batches cut from them.

Three encodings:
  * raw files (causal LM): texts joined with EOS and cut into full windows (packing);
    every token is a target.
  * prompt -> completion (causal LM): prompt + completion + EOS, with the prompt's labels
    set to -100 so the loss covers the completion only; one example per row, padded, or
    packed into full windows when `data.packing` is on.
  * prompt -> completion (encoder-decoder): the prompt is the encoder input, the completion
    plus EOS the decoder labels.

Packed windows hold several documents. With `data.packing_attention: per_document` (the
default) each document sees only itself: its position ids restart at 0, its first token is
not a target (nothing of it was seen), and attention is cut at document boundaries, either
by transformers itself from the position ids (FlashAttention-2 varlen, or the sdpa/eager mask
it builds from packed position ids) or by an explicit block-diagonal 4D mask where the
installed transformers cannot. `shared` lets a document attend to the ones before it in the
window (no mask, positions count across the window): cheaper, with a little cross-talk.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from codesweep.errors import CodesweepError
from codesweep.train.steps import IGNORE


@dataclass
class Batches:
    """Equal-length rows of model inputs: input_ids, labels, and attention_mask (padded rows)
    or position_ids (packed per-document rows), numpy int64.

    `mask_dtype` set: micro batches of packed rows carry an explicit block-diagonal causal
    4D mask of that dtype instead of leaving the document boundaries to transformers.
    """

    arrays: dict[str, np.ndarray]
    mask_dtype: torch.dtype | None = None

    def __len__(self) -> int:
        return len(self.arrays["input_ids"])

    def select(self, rows: Any) -> Batches:
        """The rows at `rows` (a slice or an index array)."""
        return Batches({name: array[rows] for name, array in self.arrays.items()},
                       self.mask_dtype)

    def with_explicit_mask(self, dtype: torch.dtype | None) -> Batches:
        """These rows, with micro batches carrying an explicit document mask of `dtype`."""
        return Batches(self.arrays, dtype)

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
        if self.mask_dtype is not None and "position_ids" in batch:
            batch["attention_mask"] = document_mask(batch["position_ids"], self.mask_dtype)
        return batch

    def target_tokens(self) -> int:
        """How many label positions count in the loss."""
        return int((self.arrays["labels"] != IGNORE).sum())


def document_mask(position_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive [batch, 1, L, L] mask: a token attends to earlier tokens of its own document
    (a document starts where its position id is 0); 0 where allowed, dtype's min elsewhere."""
    documents = (position_ids == 0).cumsum(dim=-1)
    same = documents[:, :, None] == documents[:, None, :]
    length = position_ids.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=position_ids.device).tril()
    blocked = ~(same & causal)
    mask = torch.zeros(blocked.shape, dtype=dtype, device=position_ids.device)
    return mask.masked_fill(blocked, torch.finfo(dtype).min)[:, None]


def explicit_mask_dtype(attn_implementation: str, dtype: torch.dtype) -> torch.dtype | None:
    """`dtype` when packed per-document rows need an explicit mask under this attention
    implementation, None when transformers cuts attention from the position ids itself:
    FlashAttention-2/3 through its varlen kernel, sdpa through the packed-sequence mask its
    mask builder makes (both in every transformers this project supports)."""
    from transformers import masking_utils, modeling_flash_attention_utils

    if attn_implementation.startswith("flash_attention"):
        if not hasattr(modeling_flash_attention_utils, "prepare_fa_kwargs_from_position_ids"):
            raise CodesweepError("data.packing_attention: per_document needs a transformers "
                                 "with packed FlashAttention; allowed here: shared")
        return None
    if attn_implementation == "sdpa" and hasattr(masking_utils, "find_packed_sequence_indices"):
        return None
    return dtype


def _longest(mask: np.ndarray | None) -> int | None:
    return max(1, int(mask.sum(axis=1).max())) if mask is not None and len(mask) else None


def encode_files(texts: Iterable[str], tokenizer: Any, window: int, limit: int,
                 *, per_document: bool = True) -> Batches:
    """Packed windows of raw text; labels are the inputs (next-token prediction everywhere)."""
    eos = tokenizer.eos_token_id
    examples = ((ids, ids) for ids in (_ids(tokenizer, text) + [eos] for text in texts))
    return _pack(examples, window, limit, per_document)


def encode_pairs(pairs: Iterable[tuple[str, str]], tokenizer: Any, window: int, limit: int,
                 *, packing: bool, completion_only: bool, seq2seq: bool,
                 per_document: bool = True) -> Batches:
    """Prompt -> completion examples, up to `limit` rows, encoded for training."""
    if seq2seq:
        if packing:
            raise CodesweepError("data.packing: not supported for encoder-decoder models; "
                                 "set it to false")
        return _seq2seq(itertools.islice(pairs, limit), tokenizer, window)
    encoded = (_causal_example(p, c, tokenizer, window, completion_only) for p, c in pairs)
    if packing:
        return _pack(encoded, window, limit, per_document)
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
          per_document: bool) -> Batches:
    """Concatenate examples and cut full windows; label masks travel with their tokens.

    per_document: a document's first label is dropped and position ids restart at each
    document and at each window start (a document cut by a window edge continues as a new
    one: with attention blocked, nothing before the edge is visible anyway).
    """
    ids_buffer: list[int] = []
    label_buffer: list[int] = []
    start_buffer: list[bool] = []
    rows_ids: list[list[int]] = []
    rows_labels: list[list[int]] = []
    rows_starts: list[list[bool]] = []
    for ids, labels in examples:
        ids_buffer.extend(ids)
        label_buffer.extend([IGNORE, *labels[1:]] if per_document else labels)
        start_buffer.extend([True] + [False] * (len(ids) - 1))
        while len(ids_buffer) >= window and len(rows_ids) < limit:
            rows_ids.append(ids_buffer[:window])
            rows_labels.append(label_buffer[:window])
            rows_starts.append(start_buffer[:window])
            del ids_buffer[:window], label_buffer[:window], start_buffer[:window]
        if len(rows_ids) >= limit:
            break
    shape = (len(rows_ids), window)
    arrays = {"input_ids": np.asarray(rows_ids, dtype=np.int64).reshape(shape),
              "labels": np.asarray(rows_labels, dtype=np.int64).reshape(shape)}
    if per_document:
        arrays["position_ids"] = _positions(np.asarray(rows_starts, dtype=bool).reshape(shape))
    return Batches(arrays)


def _positions(starts: np.ndarray) -> np.ndarray:
    """Position ids counting from 0 at every document start (and at every row start)."""
    starts = starts.copy()
    starts[:, 0] = True
    index = np.broadcast_to(np.arange(starts.shape[1]), starts.shape)
    last_start = np.maximum.accumulate(np.where(starts, index, 0), axis=1)
    return (index - last_start).astype(np.int64)


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
