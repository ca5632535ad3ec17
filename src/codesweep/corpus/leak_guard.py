"""The split-leakage guard's near-duplicate half: verified similar pairs that straddle splits.

Identical content is checked by hash (`blocks.leaking_in_shard`). Near duplicates are checked
on the MinHash-verified pairs: with near dedup on, no pair may have both files kept in
different splits (that would be a dedup bug, and `prepare` fails); with it off, the pairs
across splits are counted in the manifest so the leak is on record.
"""

from __future__ import annotations

import pandas as pd

from codesweep.corpus.schema import uid
from codesweep.drops import kept_rows


def kept_splits(frame: pd.DataFrame) -> dict[str, str]:
    """uid -> split of the kept rows of a (text-free) frame with repo, path, split, drop_reason."""
    kept = kept_rows(frame)
    return {uid(repo, path): split
            for repo, path, split in zip(kept["repo"], kept["path"], kept["split"], strict=True)}


def rows_named(batch: pd.DataFrame, uids: set[str]) -> pd.DataFrame:
    """The rows of a batch whose uid is in `uids`."""
    keys = [uid(repo, path) for repo, path in zip(batch["repo"], batch["path"], strict=True)]
    return batch[[key in uids for key in keys]]


def pairs_across_splits(pairs: list[tuple[str, str]],
                        splits: dict[str, str]) -> list[tuple[str, str]]:
    """The pairs whose two files are both kept, in different splits."""
    return [(a, b) for a, b in pairs
            if a in splits and b in splits and splits[a] != splits[b]]


def describe(crossing: list[tuple[str, str]], splits: dict[str, str], shown: int = 3) -> str:
    """`a (train) ~ b (test), ...` for the first few pairs."""
    return ", ".join(f"{a} ({splits[a]}) ~ {b} ({splits[b]})" for a, b in crossing[:shown])
