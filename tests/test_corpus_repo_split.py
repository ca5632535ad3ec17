"""`split.by: repo`: every requested split gets a repository, balanced by size, or one error."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from codesweep.config.pipeline import SplitConfig
from codesweep.corpus.repo_split import assign_repos, repo_assignment
from codesweep.errors import CodesweepError


@dataclass
class Listing:
    name: str
    bytes: int = 0  # what a ResolvedSource says of its listed files


def listing(name: str, *sizes: int) -> Listing:
    return Listing(name, sum(sizes))


def test_two_repos_fill_train_and_test_and_three_fill_all_splits() -> None:
    cfg = SplitConfig(by="repo", train=0.8, validation=0.0, test=0.2)
    two = repo_assignment([listing("big", 900, 100), listing("small", 50)], cfg, 0)
    assert two == {"big": "train", "small": "test"}
    three = assign_repos({"guava": 9000, "commons-lang": 3000, "commons-io": 1000},
                         SplitConfig(by="repo"), 0)
    assert sorted(three.values()) == ["test", "train", "validation"]
    assert three["guava"] == "train"
    equal = assign_repos({"a": 10, "b": 10, "c": 10}, SplitConfig(by="repo"), 0)
    assert sorted(equal.values()) == ["test", "train", "validation"]


def test_many_repos_are_balanced_by_size_and_deterministic() -> None:
    sizes = {f"repo{n:02d}": 100 + 7 * n for n in range(40)}
    cfg = SplitConfig(by="repo", train=0.6, validation=0.2, test=0.2)
    assigned = assign_repos(sizes, cfg, 3)
    assert assigned == assign_repos(dict(reversed(sizes.items())), cfg, 3)
    total = sum(sizes.values())
    for split, share in (("train", 0.6), ("validation", 0.2), ("test", 0.2)):
        got = sum(size for repo, size in sizes.items() if assigned[repo] == split) / total
        assert abs(got - share) < 0.03, (split, got)


def test_fewer_repos_than_non_empty_splits_is_a_one_line_error() -> None:
    with pytest.raises(CodesweepError, match=r"^split\.by: repo needs a repository per non-empty "
                                             r"split \(train, validation, test\) but the sources "
                                             r"give 2 \(a, b\)"):
        assign_repos({"a": 10, "b": 5}, SplitConfig(by="repo"), 0)


def test_split_by_file_needs_no_assignment() -> None:
    assert repo_assignment([listing("only", 10)], SplitConfig(), 0) is None
