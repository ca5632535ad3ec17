"""Split assignment: deterministic, seeded, ratio-respecting, repo-level when asked."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from codesweep.config.pipeline import SplitConfig
from codesweep.corpus.blocks import leaking_in_shard
from codesweep.corpus.splits import assign_splits, split_of


def test_assignment_is_deterministic_and_follows_ratios():
    cfg = SplitConfig()
    first = [split_of("r", f"f{i}.py", cfg, 0) for i in range(3000)]
    assert first == [split_of("r", f"f{i}.py", cfg, 0) for i in range(3000)]
    counts = Counter(first)
    assert 2300 < counts["train"] < 2500 and 230 < counts["validation"] < 370
    other_seed = [split_of("r", f"f{i}.py", cfg, 1) for i in range(3000)]
    assert other_seed != first


def test_split_by_repo_keeps_each_repository_whole():
    cfg = SplitConfig(by="repo", train=0.5, validation=0.25, test=0.25)
    for repo in ("alpha", "beta", "gamma", "delta"):
        assert len({split_of(repo, f"f{i}.py", cfg, 7) for i in range(50)}) == 1


def test_zero_ratio_splits_receive_nothing():
    cfg = SplitConfig(train=0.9, validation=0.1, test=0.0)
    assert "test" not in {split_of("r", f"f{i}.py", cfg, 0) for i in range(500)}


def test_only_kept_rows_get_a_split():
    batch = pd.DataFrame({"repo": ["r", "r"], "path": ["a.py", "b.py"],
                          "drop_reason": ["", "too_short"], "split": ["", ""]})
    out = assign_splits(batch, SplitConfig(), 0)
    assert out["split"].iat[0] in {"train", "validation", "test"} and out["split"].iat[1] == ""


def test_leakage_check_reports_a_sha_in_two_splits():
    shard = pd.DataFrame({"sha": ["s1", "s1", "s2"], "split": ["train", "test", "train"]})
    leaks = leaking_in_shard(shard)
    assert leaks.to_dict("records") == [{"sha": "s1", "splits": "test,train"}]
    assert leaking_in_shard(shard.iloc[2:]).empty
