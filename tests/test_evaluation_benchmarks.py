"""HumanEval-derived benchmarks: counts, task layout, and canonical solutions that pass."""

from __future__ import annotations

import pytest

from codesweep.errors import CodesweepError
from codesweep.evaluation.benchmarks import as_problems, load_benchmark, read_humaneval
from codesweep.execution import run_samples


@pytest.fixture(scope="module")
def originals() -> dict[str, dict]:
    return {p["task_id"]: p for p in read_humaneval()}


def test_sizes() -> None:
    assert len(load_benchmark("humaneval")) == 164
    assert len(load_benchmark("humaneval_single_line")) == 1033  # one per non-blank line
    multi = load_benchmark("humaneval_multi_line")
    assert len(multi) == 4782 and multi["task_id"].is_unique
    assert len(load_benchmark("humaneval_multi_line", {"max_block_lines": 2})) < len(multi)


@pytest.mark.parametrize("name", ["humaneval", "humaneval_single_line", "humaneval_multi_line"])
def test_prefix_middle_suffix_rebuild_the_canonical_program(name: str, originals) -> None:
    for task in load_benchmark(name, {"limit": 20}).to_dict(orient="records"):
        original = originals[task["task_id"].split("/", 1)[-1].rsplit("/", 1)[0]
                             if "Infilling" in task["task_id"] else task["task_id"]]
        whole = original["prompt"] + original["canonical_solution"]
        assert task["prefix"] + task["middle"] + task["suffix"] == whole
        assert task["prompt"] + task["canonical_solution"] == whole
        assert task["prefix"].startswith(original["prompt"])  # signature never masked
        assert task["middle"].strip()


def test_canonical_infills_pass_and_a_wrong_middle_fails() -> None:
    tasks = [load_benchmark("humaneval", {"limit": 4}),
             load_benchmark("humaneval_single_line", {"limit": 2}),
             load_benchmark("humaneval_multi_line", {"limit": 1, "max_block_lines": 3})]
    problems = {}
    samples = []
    for frame in tasks:
        problems.update(as_problems(frame))
        samples += [{"task_id": t, "completion": c}
                    for t, c in zip(frame["task_id"], frame["canonical_solution"], strict=True)]
    results = run_samples(problems, samples, timeout=10, workers=2)
    assert [r.task_id for r in results if not r.passed] == []
    line = load_benchmark("humaneval_single_line", {"limit": 1}).iloc[-1]
    wrong = [{"task_id": line["task_id"], "completion": "    return None\n" + line["suffix"]}]
    assert not run_samples(as_problems(load_benchmark("humaneval_single_line", {"limit": 1})),
                           wrong, timeout=10, workers=1)[0].passed


def test_variant_b_puts_the_solution_ir_before_an_executable_prompt() -> None:
    task = load_benchmark("humaneval", {"limit": 11, "ir": {"variant": "B"}}).iloc[10]
    assert task["prompt"].startswith("# AST: <ast:FunctionDef> ")
    assert "\n# CFG: <cfg:b0> " in task["prompt"]
    compile(task["prompt"] + task["canonical_solution"], "task", "exec")  # still a program
    assert task["variant"] == "B" and task["ir"] and task["prompt"].startswith(task["ir"])


def test_unknown_benchmark() -> None:
    with pytest.raises(CodesweepError, match='did you mean "humaneval"'):
        load_benchmark("humanevl")


def test_a_suite_naming_an_unknown_benchmark_is_a_one_line_error() -> None:
    from codesweep.config.loader import validate
    from codesweep.config.schema import EvalTask

    with pytest.raises(CodesweepError, match=r'tasks\.0: benchmark: unknown benchmark "humaneval_'
                                             r'single".*did you mean "humaneval_single_line"'):
        validate(EvalTask, {"name": "t", "benchmark": "humaneval_single"}, "tasks.0")
    assert validate(EvalTask, {"name": "t", "benchmark": "humaneval_multi_line"}, "x").benchmark
