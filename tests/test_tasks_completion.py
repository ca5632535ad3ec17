"""`completion`: line-level (default, unchanged) and token-window modes."""

from __future__ import annotations

import hashlib

import pandas as pd
from test_tasks_builders import fixture_files

from codesweep.languages import code_tokens
from codesweep.tasks.registry import get_builder


def test_default_line_mode_cuts_inside_the_target_line() -> None:
    files = fixture_files()
    frame = get_builder("completion")(files, {"context_lines": 4, "stride_lines": 4}, 0)
    kept = frame[frame["drop_reason"] == ""]
    texts = dict(zip(files["sha"].str[:12], files["text"], strict=True))
    for row in kept.itertuples():
        sha, target_index = row.id.split(":")
        lines = texts[sha].splitlines(keepends=True)
        target = lines[int(target_index)].rstrip("\n")
        assert row.prompt == "".join(lines[int(target_index) - 4:int(target_index)]) + \
            target[:len(target) - len(row.completion)]
        assert target.endswith(row.completion) and len(row.completion.strip()) >= 2
    assert frame.groupby("path").apply(lambda g: (g["drop_reason"] == "").sum()).max() <= 8


def test_token_windows() -> None:
    params = {"mode": "tokens", "window_tokens": 40, "stride_tokens": 20, "target_tokens": 10,
              "max_examples_per_file": 100}
    frame = get_builder("completion")(fixture_files(), params, 0)
    kept = frame[frame["drop_reason"] == ""]
    assert (kept["n_prompt_tokens"] == 30).all()
    assert kept["n_completion_tokens"].between(1, 10).all()
    assert (kept["n_completion_tokens"] == 10).sum() >= len(kept) - 3  # short only at file ends
    first = kept[kept["path"] == "shapes.py"].iloc[:2]
    text = fixture_files()["text"][0]
    starts = [text.index(p) for p in first["prompt"]]
    assert first["prompt"].iloc[0] + first["completion"].iloc[0] == text[:len(
        first["prompt"].iloc[0] + first["completion"].iloc[0])]
    assert starts[0] == 0 and starts[1] > 0


def test_token_window_must_hold_prompt_and_target() -> None:
    import pytest

    from codesweep.errors import CodesweepError

    with pytest.raises(CodesweepError, match="prompt_tokens \\+ target_tokens"):
        get_builder("completion")(fixture_files(), {"mode": "tokens", "window_tokens": 10,
                                                    "prompt_tokens": 8, "target_tokens": 8}, 0)


def test_short_file_is_counted() -> None:
    files = fixture_files().iloc[:1].copy()
    files.loc[0, "text"] = "x = 1\n"
    frame = get_builder("completion")(files, {}, 0)
    assert list(frame["drop_reason"]) == ["file_too_short"]


def long_file(lines: int) -> pd.DataFrame:
    text = "".join(f"val byteStrings{n} = byteStrings[{n}].toList() + elseBranch{n}\n"
                   for n in range(lines)) + "\n\n   \n"
    return pd.DataFrame([{"repo": "r", "revision": "0" * 40, "path": "Long.kt",
                          "language": "kotlin", "text": text, "split": "train",
                          "sha": hashlib.sha256(text.encode()).hexdigest()}])


def test_token_windows_cover_a_long_file_unless_capped_and_count_the_cap() -> None:
    files = long_file(400)
    params = {"mode": "tokens", "window_tokens": 64, "stride_tokens": 64, "target_tokens": 16}
    frame = get_builder("completion")(files, params, 0)
    kept = frame[frame["drop_reason"] == ""]
    covered = sum(len(row.prompt) + len(row.completion) for row in kept.itertuples())
    assert covered >= len(files["text"].iloc[0].rstrip()) - 64 * 12  # all but the last window
    capped = get_builder("completion")(files, {**params, "max_examples_per_file": 8}, 0)
    reasons = capped["drop_reason"].value_counts()
    assert reasons[""] == 8 and reasons["file_cap"] == len(frame) - 8 - reasons.get(
        "blank_target", 0)


def test_line_targets_are_cut_between_tokens_and_blank_targets_dropped() -> None:
    files = long_file(120)
    words = {token.strip() for token in code_tokens(files["text"].iloc[0])}
    for seed in range(5):
        frame = get_builder("completion")(files, {"context_lines": 3, "stride_lines": 1,
                                                  "max_examples_per_file": 200}, seed)
        for row in frame[frame["drop_reason"] == ""].itertuples():
            head = row.prompt.rsplit("\n", 1)[-1]
            last = code_tokens(head)[-1].strip() if head.strip() else ""
            first = code_tokens(row.completion)[0].strip()
            assert last in words | {""} and first in words, (head, row.completion)
    tokens = get_builder("completion")(files, {"mode": "tokens", "window_tokens": 12,
                                               "stride_tokens": 1, "target_tokens": 2}, 0)
    assert (tokens["drop_reason"] == "blank_target").any()
    assert all(text.strip() for text in tokens.loc[tokens["drop_reason"] == "", "completion"])
