"""Token blocks: texts tokenized, joined with EOS and cut into fixed windows (packing).

Packed documents can attend to each other inside a block (no cross-document mask): that is
the standard causal-LM pre-training setup and keeps every token of the window useful.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np


def iter_blocks(texts: Iterable[str], tokenizer: Any, window: int) -> Iterator[np.ndarray]:
    """Yield int64 arrays of exactly `window` token ids, streaming over `texts`."""
    buffer: list[int] = []
    eos = tokenizer.eos_token_id
    for text in texts:
        buffer.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        buffer.append(eos)
        while len(buffer) >= window:
            yield np.asarray(buffer[:window], dtype=np.int64)
            del buffer[:window]


def take_blocks(texts: Iterable[str], tokenizer: Any, window: int, limit: int) -> np.ndarray:
    """Up to `limit` blocks as a [n, window] array (empty [0, window] when the text is short)."""
    blocks = list(itertools.islice(iter_blocks(texts, tokenizer, window), limit))
    return np.stack(blocks) if blocks else np.zeros((0, window), dtype=np.int64)
