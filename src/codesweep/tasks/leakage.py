"""Example-level leakage across splits: an eval example whose text a model could have seen in train.

File-level dedup cannot see a function that two different files share (multiplatform
`jvmMain`/`nativeMain` siblings, interface adapters), so the same function can be trained on
and then scored. This pass looks at what each example would let a model recite, its *leak
text*: the obfuscated body for function naming (`code`), the whole function for FIM
(prefix + middle + suffix), otherwise the prompt's last `tail_chars` characters plus the
completion (windows, generation targets).

Texts are compared as sets of hashed code-token shingles (whitespace and layout do not
matter). The reference of a split holds the shingles of every file and every kept example of
the splits before it (train, then validation): an eval example with at least `containment`
of its shingles in the reference is dropped, on the eval side, as `cross_split_duplicate`.
Containment rather than Jaccard, because a window or a function is a small part of a file.
The reference is a sorted uint64 array: 8 bytes per distinct shingle of the earlier splits.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import pandas as pd

from codesweep.corpus.dedup import TOKEN
from codesweep.tasks.rows import KEPT

REASON = "cross_split_duplicate"
SHINGLE = 5  # code tokens per shingle, as file-level near dedup
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier of the rolling shingle hash


@lru_cache(maxsize=1 << 16)
def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")


def shingle_hashes(text: str, size: int = SHINGLE) -> np.ndarray:
    """Distinct hashes of the text's `size`-token shingles (one hash when it is shorter)."""
    tokens = np.array([_token_hash(t) for t in TOKEN.findall(text)], dtype=np.uint64)
    if len(tokens) == 0:
        return tokens
    if len(tokens) < size:
        size = len(tokens)
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
    """Ray Data step: the distinct shingle hashes of a batch of prepared files (one column)."""
    return _hash_frame([str(text) for text in batch["text"]])


def example_shingles(batch: pd.DataFrame, tail_chars: int) -> pd.DataFrame:
    """Ray Data step: the distinct shingle hashes of a batch's kept examples."""
    kept = batch[batch["drop_reason"] == KEPT] if "drop_reason" in batch.columns else batch
    return _hash_frame(leak_texts(kept, tail_chars))


def _hash_frame(texts: list[str]) -> pd.DataFrame:
    parts = [shingle_hashes(text) for text in texts]
    values = np.unique(np.concatenate(parts)) if parts else np.array([], dtype=np.uint64)
    return pd.DataFrame({"hash": values.astype(np.uint64)})


def reference_of(parts: list[np.ndarray]) -> np.ndarray:
    """One sorted, distinct reference array from many hash arrays."""
    joined = np.concatenate([np.asarray(part, dtype=np.uint64) for part in parts]) if parts \
        else np.array([], dtype=np.uint64)
    return np.unique(joined)


def containment(text: str, reference: np.ndarray) -> float:
    """Fraction of the text's shingles found in the (sorted) reference; 0 for an empty text."""
    hashes = shingle_hashes(text)
    if len(hashes) == 0 or len(reference) == 0:
        return 0.0
    slots = np.minimum(np.searchsorted(reference, hashes), len(reference) - 1)
    return float(np.mean(reference[slots] == hashes))


def mark_cross_split(batch: pd.DataFrame, reference: np.ndarray, min_containment: float,
                     tail_chars: int) -> pd.DataFrame:
    """Drop the kept examples of an eval batch whose leak text is contained in the reference."""
    batch = batch.copy()
    if batch.empty or len(reference) == 0:
        return batch
    texts = leak_texts(batch, tail_chars)
    for index, text in enumerate(texts):
        if batch["drop_reason"].iat[index] != KEPT:
            continue
        if containment(text, reference) >= min_containment:
            batch.iloc[index, batch.columns.get_indexer(["drop_reason", "prompt", "completion"])] \
                = [REASON, "", ""]
    return batch
