"""`completion`: line-level (default, unchanged) and token-window modes."""

from __future__ import annotations

from test_tasks_builders import fixture_files

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
