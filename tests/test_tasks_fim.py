"""FIM: the three masks, PSM/SPM rendering with each family's sentinels, signature safety."""

from __future__ import annotations

import pytest
from test_tasks_builders import fixture_files

from codesweep.tasks.fim import FimParams, render_fim
from codesweep.tasks.functions import extract_functions
from codesweep.tasks.registry import get_builder


@pytest.mark.parametrize("mask", ["line", "lines", "span", "mixed"])
def test_signature_is_never_masked(mask: str) -> None:
    files = fixture_files()
    functions = {(row.path, f.qualname): f for row in files.itertuples()
                 for f in extract_functions(row.text, row.language)}
    for seed in range(8):
        frame = get_builder("fim")(files, {"mask": mask, "examples_per_function": 2}, seed)
        for row in frame[frame["drop_reason"] == ""].itertuples():
            function = functions[(row.path, row.function)]
            assert row.prefix + row.middle + row.suffix == function.text
            assert len(row.prefix) >= function.signature_end, (row.id, row.middle)
            assert row.middle.strip(), row.id


def test_line_masks_are_whole_lines_and_lines_masks_span_several() -> None:
    frame = get_builder("fim")(fixture_files(), {"mask": "lines", "max_mask_lines": 3}, 0)
    kept = frame[frame["drop_reason"] == ""]
    for row in kept.itertuples():
        assert row.prefix.endswith("\n") and row.middle.endswith("\n")
        assert 1 <= row.middle.count("\n") <= 3
    assert (kept["mask"] == "lines").any() and (kept["middle"].str.count("\n") >= 2).any()


def test_psm_and_spm_with_each_family() -> None:
    def render(fmt: str, family: str) -> str:
        return render_fim("PRE", "SUF", FimParams(format=fmt, sentinels=family))

    assert render("psm", "starcoder") == "<fim_prefix>PRE<fim_suffix>SUF<fim_middle>"
    assert render("spm", "starcoder") == "<fim_prefix><fim_suffix>SUF<fim_middle>PRE"
    assert render("psm", "codellama") == "<PRE> PRE <SUF>SUF <MID>"
    assert render("spm", "codellama") == "<PRE> <SUF>SUF <MID> PRE"


def test_custom_sentinels_and_end_token() -> None:
    params = {"sentinels": {"prefix": "[P]", "suffix": "[S]", "middle": "[M]", "end": "[E]"}}
    frame = get_builder("fim")(fixture_files(), params, 0)
    row = frame[frame["drop_reason"] == ""].iloc[0]
    assert row["prompt"] == f"[P]{row['prefix']}[S]{row['suffix']}[M]"
    assert row["completion"] == row["middle"] + "[E]"


def test_functions_without_code_lines_are_dropped_with_a_reason() -> None:
    frame = get_builder("fim")(fixture_files(), {"min_body_lines": 3}, 0)
    reasons = frame.set_index("function")["drop_reason"].to_dict()
    assert reasons["Shape.area"] == "abstract"
    assert reasons["Circle.todo"] == "empty_body"
    assert reasons["Square.area"] == "too_short"  # `= side * side` is on the signature line
    assert reasons["gcd"] == ""
