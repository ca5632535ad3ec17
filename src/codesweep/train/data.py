"""Token blocks: texts tokenized, joined with EOS and cut into fixed windows (packing).

These blocks feed pre-training of the tiny model, where documents attend to each other
inside a block (the standard causal-LM pre-training setup). Fine-tuning packs through
`codesweep.train.batches`, which keeps documents apart by default.
"""

from __future__ import annotations

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
