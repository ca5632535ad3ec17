"""Evaluation pieces: example loading, n-sample expansion, stop strings, benchmark pass@k."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from codesweep.config.schema import EvalTask
from codesweep.errors import CodesweepError
from codesweep.evaluation.generate import cut_at_stop
from codesweep.evaluation.runner import load_examples, score_rows, task_scores
from codesweep.records import PreparedDataRef


def benchmark_task(**extra: object) -> EvalTask:
    return EvalTask(name="he", benchmark="humaneval_single_line", metrics=["exact_match"],
                    benchmark_params={"limit": 2}, max_examples=6, timeout=5, **extra)


def prepared_at(root: Path) -> PreparedDataRef:
    return PreparedDataRef(root=str(root), key="test")


def test_cut_at_stop_takes_the_earliest_stop() -> None:
    assert cut_at_stop("x = 1\ny = 2", ["\n"]) == "x = 1"
    assert cut_at_stop("return a\ndef g():", ["\ndef ", "\n#"]) == "return a"
    assert cut_at_stop("no stop here", ["\n"]) == "no stop here"


def test_benchmark_pass_at_k_from_executed_samples() -> None:
    task = benchmark_task()
    frame = load_examples(prepared_at(Path(".")), task)
    assert len(frame) == 6 and frame["id"].is_unique
    right = score_rows(frame, frame["completion"].tolist(), task)
    assert right["passed"].all() and set(right["status"]) == {"passed"}
    assert task_scores(task, right) == {"exact_match": 100.0, "pass@1": 100.0}
    wrong = score_rows(frame, ["    raise ValueError('no')\n"] * len(frame), task)
    assert not wrong["passed"].any()
    assert task_scores(task, wrong)["pass@1"] == 0.0


def test_samples_per_problem_repeats_prompts_and_scores_pass_at_k() -> None:
    task = benchmark_task(samples_per_problem=2, k=[1, 2],
                          generation={"do_sample": True, "temperature": 0.8})
    frame = load_examples(prepared_at(Path(".")), task)
    assert len(frame) == 12
    assert frame["id"].str.endswith(("#0", "#1")).all()
    predictions = [c if i % 2 == 0 else "    return None\n"
                   for i, c in enumerate(frame["completion"])]
    scores = task_scores(task, score_rows(frame, predictions, task))
    assert scores["pass@1"] == pytest.approx(50.0)
    assert scores["pass@2"] == pytest.approx(100.0)


def test_eval_task_rules_are_one_line_errors() -> None:
    from codesweep.config.loader import validate

    with pytest.raises(CodesweepError, match="exactly one of dataset"):
        validate(EvalTask, {"name": "t"}, "suite.yaml")
    with pytest.raises(CodesweepError, match="needs samples_per_problem >= 10"):
        validate(EvalTask, {"name": "t", "benchmark": "humaneval", "k": [10]}, "suite.yaml")


def test_missing_prepared_task_names_what_exists(tmp_path: Path) -> None:
    (tmp_path / "tasks" / "completion").mkdir(parents=True)
    task = EvalTask(name="t", dataset="fim")
    with pytest.raises(CodesweepError, match="no prepared data fim/test; prepared tasks: "
                                             "completion"):
        load_examples(prepared_at(tmp_path), task)


def test_prepared_examples_are_sorted_and_capped(tmp_path: Path) -> None:
    split = tmp_path / "tasks" / "completion" / "test"
    split.mkdir(parents=True)
    pd.DataFrame({"id": ["b", "a", "c"], "prompt": ["p"] * 3, "completion": ["c"] * 3,
                  "extra": [1, 2, 3]}).to_parquet(split / "part.parquet")
    task = EvalTask(name="t", dataset="completion", max_examples=2)
    frame = load_examples(prepared_at(tmp_path), task)
    assert frame["id"].tolist() == ["a", "b"]


def test_only_the_rows_scored_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prompts and completions are read for the first max_examples ids alone, across parts."""
    import pyarrow.dataset as pads

    split = tmp_path / "tasks" / "completion" / "test"
    split.mkdir(parents=True)
    for part, ids in enumerate((["e", "b", "h"], ["a", "g"], ["d", "c", "f"])):
        pd.DataFrame({"id": ids, "prompt": [f"p{i}" for i in ids],
                      "completion": [f"c{i}" for i in ids]}).to_parquet(split / f"{part}.parquet")
    from types import SimpleNamespace

    from codesweep.evaluation import runner

    read_rows: list[int] = []

    class Counting:  # a dataset that records how many rows each read with text returns
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.dataset = pads.dataset(*args, **kwargs)

        def to_table(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            table = self.dataset.to_table(*args, **kwargs)
            if "prompt" in (kwargs.get("columns") or []):
                read_rows.append(table.num_rows)
            return table

    monkeypatch.setattr(runner, "pads", SimpleNamespace(dataset=Counting))
    frame = load_examples(prepared_at(tmp_path), EvalTask(name="t", dataset="completion",
                                                          max_examples=3))
    assert frame["id"].tolist() == ["a", "b", "c"]
    assert frame["prompt"].tolist() == ["pa", "pb", "pc"]
    assert read_rows == [3]  # of 8 rows, only the 3 scored carried their text
