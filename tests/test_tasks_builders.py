"""Golden outputs of every task builder on the handwritten Python, Kotlin and Java fixtures.

Regenerate after an intended change with CODESWEEP_UPDATE_GOLDEN=1, then review the diff.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from codesweep.errors import CodesweepError
from codesweep.tasks.registry import BUILDERS, get_builder

FIXTURES = Path(__file__).parent / "fixtures" / "tasks"
SOURCES = [("shapes.py", "python"), ("Stack.kt", "kotlin"), ("Counter.java", "java")]

CASES = {
    "completion_lines": ("completion", {"context_lines": 8, "stride_lines": 8}),
    "completion_tokens": ("completion", {"mode": "tokens", "window_tokens": 48,
                                         "stride_tokens": 64, "target_tokens": 8}),
    "fim_line_starcoder_psm": ("fim", {}),
    "fim_lines_codellama_spm": ("fim", {"mask": "lines", "format": "spm",
                                        "sentinels": "codellama"}),
    "fim_span": ("fim", {"mask": "span", "max_span_chars": 30, "append_end": False}),
    "method_generation_A": ("method_generation", {}),
    "method_generation_B": ("method_generation", {"ir": {"variant": "B", "languages": [
        "python", "kotlin", "java"]}}),
    "text_to_code": ("text_to_code", {}),
    "function_naming": ("function_naming", {}),
    "function_naming_raw_nodoc": ("function_naming", {"strip_docstring": True,
                                                      "template": {"kind": "raw"}}),
}


def fixture_files(split: str = "train") -> pd.DataFrame:
    """The fixture sources as a prepared-files frame."""
    rows = []
    for name, language in SOURCES:
        text = (FIXTURES / name).read_text()
        rows.append({"repo": "fixtures", "revision": "0" * 40, "path": name,
                     "language": language, "text": text, "split": split,
                     "sha": hashlib.sha256(text.encode()).hexdigest()})
    return pd.DataFrame(rows)


def golden_view(frame: pd.DataFrame) -> dict:
    """What a golden file pins: kept examples (id, prompt, completion) and drops per reason."""
    kept = frame[frame["drop_reason"] == ""]
    drops = frame.loc[frame["drop_reason"] != "", "drop_reason"].value_counts()
    return {"examples": kept[["id", "prompt", "completion"]].to_dict(orient="records"),
            "dropped": {str(k): int(v) for k, v in sorted(drops.items())}}


@pytest.mark.parametrize("case", sorted(CASES))
def test_builder_matches_golden(case: str) -> None:
    builder, params = CASES[case]
    actual = golden_view(get_builder(builder)(fixture_files(), params, seed=7))
    path = FIXTURES / "golden" / f"{case}.json"
    if os.environ.get("CODESWEEP_UPDATE_GOLDEN"):
        path.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
    assert actual == json.loads(path.read_text())


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_output_does_not_depend_on_batching(builder: str) -> None:
    files = fixture_files()
    whole = get_builder(builder)(files, {}, seed=3)
    parts = pd.concat([get_builder(builder)(files.iloc[[i]], {}, seed=3) for i in range(3)],
                      ignore_index=True)
    pd.testing.assert_frame_equal(whole, parts)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_empty_batch_has_the_full_column_set(builder: str) -> None:
    full = get_builder(builder)(fixture_files(), {}, seed=0)
    empty = get_builder(builder)(fixture_files().iloc[:0], {}, seed=0)
    assert list(empty.columns) == list(full.columns)
    assert {"id", "split", "prompt", "completion", "drop_reason"} <= set(full.columns)
    assert empty["n_prompt_tokens"].dtype == "int64"


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_wrong_knob_is_a_one_line_error(builder: str) -> None:
    with pytest.raises(CodesweepError, match=rf"tasks\.{builder}\.params: no_such_knob: unknown"):
        get_builder(builder)(fixture_files(), {"no_such_knob": 1}, seed=0)


def test_ids_are_unique_and_splits_carried() -> None:
    for builder in BUILDERS:
        frame = get_builder(builder)(fixture_files(split="valid"), {}, seed=0)
        assert frame["id"].is_unique, builder
        assert set(frame["split"]) == {"valid"}


def test_seed_changes_fim_masks_but_not_the_examples_set() -> None:
    first = get_builder("fim")(fixture_files(), {"mask": "mixed"}, seed=1)
    second = get_builder("fim")(fixture_files(), {"mask": "mixed"}, seed=2)
    assert list(first["id"]) == list(second["id"])
    assert list(first["middle"]) != list(second["middle"])


def test_unsupported_language_and_unparsable_file_are_counted() -> None:
    files = fixture_files().iloc[:2].copy()
    files.loc[0, ["language", "path"]] = ["markdown", "README.md"]
    files.loc[1, ["language", "text"]] = ["python", "def broken(:\n"]
    frame = get_builder("function_naming")(files, {}, seed=0)
    assert list(frame["drop_reason"]) == ["unsupported_language", "no_functions"]


def test_unknown_builder_suggests_the_closest_name() -> None:
    from codesweep.errors import CodesweepError

    with pytest.raises(CodesweepError, match=r'unknown task builder "fimm" \(did you mean "fim"'):
        get_builder("fimm")
