"""Manifest counts: per split examples, drops per reason and token statistics, across batches."""

from __future__ import annotations

import pandas as pd
from test_tasks_builders import fixture_files

from codesweep.tasks.manifest import count_projection, summarize
from codesweep.tasks.registry import get_builder


def test_summary_is_the_same_whether_batched_or_not() -> None:
    files = pd.concat([fixture_files("train"), fixture_files("test").iloc[:1]], ignore_index=True)
    build = get_builder("function_naming")
    whole = summarize(count_projection(build(files, {}, 0)))
    batched = summarize(pd.concat([count_projection(build(files.iloc[[i]], {}, 0))
                                   for i in range(len(files))], ignore_index=True))
    assert whole == batched
    assert whole["train"]["examples"] == 9
    assert whole["train"]["dropped"] == {"abstract": 4, "dunder": 1, "empty_body": 3,
                                         "label_leak": 1, "super_only": 3, "too_short": 9}
    assert whole["test"]["examples"] == 4
    stats = whole["train"]["completion_tokens"]
    assert stats["min"] == stats["max"] == 1  # a name is one code token
    assert set(whole["train"]["prompt_tokens"]) == {"min", "mean", "p50", "p90", "p99", "max"}


def test_projection_holds_no_text() -> None:
    frame = get_builder("fim")(fixture_files(), {}, 0)
    assert list(count_projection(frame).columns) == ["split", "drop_reason", "n_prompt_tokens",
                                                     "n_completion_tokens"]
