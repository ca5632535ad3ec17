"""Example-level leakage across splits: an eval example whose text a model could have seen in train.

File-level dedup cannot see a function that two different files share (multiplatform
`jvmMain`/`nativeMain` siblings, interface adapters), so the same function can be trained on
and then scored. This pass looks at what each example would let a model recite, its *leak
text*: the obfuscated body for function naming (`code`), the whole function for FIM
(prefix + middle + suffix), otherwise the prompt's last `tail_chars` characters plus the
completion (windows, generation targets).

Texts are compared as sets of hashed code-token shingles (whitespace and layout do not
matter). The reference of a split is made of *units*: every file and every kept example of
the splits before it (train, then validation). An eval example is dropped, on the eval side,
as `cross_split_duplicate` when at least `containment` of its shingles occur in ONE unit.
Pooling all earlier text instead would drop any example whose common idioms happen to be
spread over many train files. Containment rather than Jaccard, because a window or a
function is a small part of a file.

The reference keeps each unit's sorted shingle hashes and an inverted index (hash -> units).
Candidates for an example come from its rarest shingles (prefix filtering: a unit holding
`need` of the example's `n` shingles must hold one of any `n - need + 1` of them), then each
candidate is checked exactly. Memory: about 12 bytes per (unit, distinct shingle) for the
index, next to the units' own 8.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from codesweep.drops import KEPT, kept_rows
from codesweep.languages import code_words

REASON = "cross_split_duplicate"
SHINGLE = 5  # code tokens per shingle, as file-level near dedup
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier of the rolling shingle hash
_EMPTY = np.array([], dtype=np.uint64)


@lru_cache(maxsize=1 << 16)
def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")


def shingle_hashes(text: str, size: int = SHINGLE) -> np.ndarray:
    """Sorted distinct hashes of the text's `size`-token shingles (one hash when shorter)."""
    tokens = np.array([_token_hash(t) for t in code_words(text)], dtype=np.uint64)
    if len(tokens) == 0:
        return tokens
    size = min(size, len(tokens))
    with np.errstate(over="ignore"):  # wrapping arithmetic is the point of a hash
        mixed = tokens[: len(tokens) - size + 1].copy()
        for offset in range(1, size):
            mixed = mixed * _MIX + tokens[offset: len(tokens) - size + 1 + offset]
    return np.unique(mixed)


def leak_texts(frame: pd.DataFrame, tail_chars: int) -> list[str]:
    """The leak text of every row of a builder's output (see the module docstring)."""
    if "code" in frame.columns:
        return [str(code) for code in frame["code"]]
    if {"prefix", "middle", "suffix"} <= set(frame.columns):
        return [f"{p}{m}{s}" for p, m, s in zip(frame["prefix"], frame["middle"],
                                                 frame["suffix"], strict=True)]
    return [f"{p[-tail_chars:]}{c}" for p, c in zip(frame["prompt"], frame["completion"],
                                                     strict=True)]


def file_shingles(batch: pd.DataFrame) -> pd.DataFrame:
    """Ray Data step: one row per prepared file, its shingle hashes as bytes (`hashes`)."""
    return _hash_frame([str(text) for text in batch["text"]])


def example_shingles(batch: pd.DataFrame, tail_chars: int) -> pd.DataFrame:
    """Ray Data step: one row per kept example, the shingle hashes of its leak text."""
    kept = kept_rows(batch) if "drop_reason" in batch.columns else batch
    return _hash_frame(leak_texts(kept, tail_chars))


def _hash_frame(texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"hashes": [shingle_hashes(text).tobytes() for text in texts]},
                        dtype=object)


def unit_hashes(frame: pd.DataFrame) -> list[np.ndarray]:
    """The per-unit hash arrays of a `file_shingles` / `example_shingles` result."""
    if "hashes" not in frame.columns:  # a dataset with no rows has no columns either
        return []
    return [np.frombuffer(data, dtype=np.uint64) for data in frame["hashes"] if len(data)]


@dataclass(frozen=True)
class Postings:
    """The inverted index of a reference's units: every (unit, hash) entry, by hash."""

    hashes: np.ndarray  # uint64, sorted
    units: np.ndarray  # int32, the unit of each entry (in unit order among equal hashes)


@dataclass(frozen=True)
class Reference:
    """The shingle sets of the earlier splits' units, by unit and by hash."""

    units: Sequence[np.ndarray]  # uint64, each unit's sorted distinct hashes
    postings: Postings

    def __len__(self) -> int:
        return len(self.units)

    @property
    def posting_hashes(self) -> np.ndarray:
        return self.postings.hashes

    @property
    def posting_units(self) -> np.ndarray:
        return self.postings.units

    def unit(self, index: int) -> np.ndarray:
        """The sorted shingle hashes of one unit."""
        return self.units[index]


def reference_of(units: Sequence[np.ndarray]) -> Reference:
    """The reference of the units' hash arrays (each sorted and distinct, as
    `shingle_hashes` gives), which it keeps as they are: views stay views."""
    return Reference(units, postings_of(units))


def postings_of(units: Sequence[np.ndarray]) -> Postings:
    """Index the units' hash arrays. About 24 bytes per hash at the peak, 12 in the result
    (the units themselves are not copied: a reference in the object store is its postings
    alone, next to the blocks its units are read from)."""
    sizes = np.array([len(unit) for unit in units], dtype=np.int64)
    hashes = np.concatenate([np.asarray(u, dtype=np.uint64) for u in units]) if len(units) \
        else _EMPTY
    order = np.argsort(hashes, kind="stable")
    hashes = hashes[order]  # the unsorted copy goes before the owners are made
    owners = np.repeat(np.arange(len(units), dtype=np.int32), sizes)[order]
    return Postings(hashes, owners)


def hash_views(column: pa.ChunkedArray, keep: np.ndarray | None = None) -> list[np.ndarray]:
    """The units of a binary column of `shingle_hashes(...).tobytes()` values: a uint64 view
    of each non-empty value (of the rows `keep` marks), onto the column's own buffers. So
    the hashes are copied only into the index (`postings_of`), not into Python bytes or a
    filtered Arrow copy (which Arrow's allocator then kept), and a reference's units are
    read from the blocks in the object store rather than stored again."""
    views, row = [], 0
    for chunk in column.chunks:
        wide = pa.types.is_large_binary(chunk.type)
        _, offsets_buffer, data_buffer = chunk.buffers()
        if data_buffer is None:  # no values at all
            row += len(chunk)
            continue
        offsets = np.frombuffer(offsets_buffer, dtype=np.int64 if wide else np.int32)[
            chunk.offset: chunk.offset + len(chunk) + 1]
        data = np.frombuffer(data_buffer, dtype=np.uint8)
        wanted = np.ones(len(chunk), bool) if keep is None else keep[row: row + len(chunk)]
        for start, end in zip(offsets[:-1][wanted], offsets[1:][wanted], strict=True):
            if end > start:  # an empty value (a dropped row) is no unit
                views.append(data[start:end].view(np.uint64))
        row += len(chunk)
    return views


def best_containment(hashes: np.ndarray, reference: Reference, at_least: float = 0.0) -> float:
    """The largest fraction of `hashes` found in one unit of the reference.

    Exact whenever that fraction is >= `at_least` (only units that can reach it are checked);
    otherwise some smaller value. 0 for no hashes or an empty reference.
    """
    if len(hashes) == 0 or len(reference) == 0:
        return 0.0
    low = np.searchsorted(reference.posting_hashes, hashes, side="left")
    high = np.searchsorted(reference.posting_hashes, hashes, side="right")
    need = max(1, math.ceil(at_least * len(hashes)))
    rarest = np.argsort(high - low, kind="stable")[:len(hashes) - need + 1]
    candidates = np.concatenate([reference.posting_units[low[i]:high[i]] for i in rarest])
    units, shared = np.unique(candidates, return_counts=True)
    best = 0
    for unit in units[np.argsort(-shared, kind="stable")]:  # likeliest first: early exit
        best = max(best, _shared(hashes, reference.unit(unit)))
        if best == len(hashes):
            break
    return best / len(hashes)


def _shared(hashes: np.ndarray, unit: np.ndarray) -> int:
    """How many of `hashes` the sorted `unit` holds."""
    slots = np.minimum(np.searchsorted(unit, hashes), len(unit) - 1)
    return int(np.count_nonzero(unit[slots] == hashes))


def containment(text: str, reference: Reference) -> float:
    """Fraction of the text's shingles found in the one unit that holds most of them."""
    return best_containment(shingle_hashes(text), reference)


def mark_cross_split(batch: pd.DataFrame, references: Reference | list[Reference],
                     min_containment: float, tail_chars: int) -> pd.DataFrame:
    """Drop the kept examples of an eval batch whose leak text one reference unit contains.

    Several references (say, one per block of an earlier split) give what one built from all
    their units: the unit that holds most of a text is in one of them."""
    batch = batch.copy()
    references = [references] if isinstance(references, Reference) else references
    references = [reference for reference in references if len(reference)]
    if batch.empty or not references:
        return batch
    texts = leak_texts(batch, tail_chars)
    leaked = [reason == KEPT and _contained(shingle_hashes(text), references, min_containment)
              for text, reason in zip(texts, batch["drop_reason"], strict=True)]
    batch.loc[np.array(leaked, dtype=bool), ["drop_reason", "prompt", "completion"]] = \
        [REASON, "", ""]
    return batch


def _contained(hashes: np.ndarray, references: list[Reference], at_least: float) -> bool:
    return any(best_containment(hashes, reference, at_least) >= at_least
               for reference in references)
