"""Deterministic split assignment and the leakage check.

A file's split depends only on the seed and its unit (repo, or repo:path), never on batch
order or cluster layout, so re-runs and different machines agree. Near-duplicate clusters
cannot straddle splits because dedup keeps one representative per cluster; the leakage
check then proves no content hash appears in two splits.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from codesweep.config.pipeline import SPLITS, SplitConfig
from codesweep.corpus.schema import uid
from codesweep.drops import KEPT


def unit_fraction(seed: int, key: str) -> float:
    """A uniform number in [0, 1) derived from the seed and a key."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(repo: str, path: str, cfg: SplitConfig, seed: int,
             repo_splits: dict[str, str] | None = None) -> str:
    """The split of a file: by its repository (`corpus.repo_split`'s assignment when given)
    or by the file itself."""
    if cfg.by == "repo" and repo_splits:
        return repo_splits[repo]
    key = repo if cfg.by == "repo" else uid(repo, path)
    point = unit_fraction(seed, key)
    if point < cfg.train:
        return "train"
    if point < cfg.train + cfg.validation:
        return "validation"
    return "test" if cfg.test > 0 else ("validation" if cfg.validation > 0 else "train")


def assign_splits(batch: pd.DataFrame, cfg: SplitConfig, seed: int,
                  repo_splits: dict[str, str] | None = None) -> pd.DataFrame:
    """The Ray Data split step: fill `split` on kept rows."""
    batch = batch.copy()
    batch["split"] = [
        split_of(repo, path, cfg, seed, repo_splits) if reason == KEPT else ""
        for repo, path, reason in zip(batch["repo"], batch["path"], batch["drop_reason"],
                                      strict=True)
    ]
    return batch


__all__ = ["SPLITS", "assign_splits", "split_of", "unit_fraction"]
