"""Execution rewards for RL fine-tuning: a completion earns 1.0 when it passes its tests.

The tests run in the trusted checker (`codesweep.execution.checker`), so a policy that learns
to forge passes (objects whose `__eq__` always answers True, rebound builtins, forged
reports) earns nothing for it. `ExecutionReward` fits TRL's GRPOTrainer as a `reward_funcs`
entry: TRL calls it with the batch's prompts and completions and passes every other dataset
column as a keyword argument holding one value per completion.

    from codesweep.execution import ExecutionReward
    from trl import GRPOConfig, GRPOTrainer

    # dataset rows: {"prompt": "def add(a, b):\\n", "test": "def check(candidate): ...",
    #                "entry_point": "add"}
    trainer = GRPOTrainer(model=model, reward_funcs=[ExecutionReward(timeout=3.0)],
                          args=GRPOConfig(output_dir="out"), train_dataset=dataset)

With `problems` (e.g. HumanEval's, keyed by task_id) the dataset needs only a `task_id`
column; the test then comes from the benchmark, not from the dataset row.
"""

from __future__ import annotations

from codesweep.errors import CodesweepError, did_you_mean
from codesweep.execution.limits import Limits
from codesweep.execution.runner import run_samples


class ExecutionReward:
    """A reward function: 1.0 for each completion that passes its tests, else 0.0."""

    __name__ = "execution_reward"  # TRL logs each reward under its function's name

    def __init__(self, *, problems: dict[str, dict] | None = None, timeout: float = 5.0,
                 workers: int = 2, limits: Limits | None = None, level: str | None = None):
        self.problems, self.timeout, self.workers = problems, timeout, workers
        self.limits, self.level = limits, level

    def __call__(self, prompts: list, completions: list, **columns) -> list[float]:
        """Score one batch; `columns` holds the dataset's other columns (lists, one per row)."""
        problems = {f"row-{i}": self._problem(i, prompts, columns)
                    for i in range(len(completions))}
        samples = [{"task_id": f"row-{i}", "completion": _text(c)}
                   for i, c in enumerate(completions)]
        results = run_samples(problems, samples, timeout=self.timeout, workers=self.workers,
                              limits=self.limits, level=self.level)
        return [1.0 if result.passed else 0.0 for result in results]

    def _problem(self, row: int, prompts: list, columns: dict) -> dict:
        """Row `row`'s problem, under its own id (rows may share a task with other prompts)."""
        if self.problems is not None:
            task_id = _column(columns, "task_id", row)
            if task_id not in self.problems:
                raise CodesweepError(f'execution reward: row {row}: unknown task_id "{task_id}"'
                                     f"{did_you_mean(str(task_id), self.problems)}")
            return {**self.problems[task_id], "task_id": f"row-{row}"}
        prompt = prompts[row] if isinstance(prompts[row], str) else ""  # chat: whole function
        return {"task_id": f"row-{row}", "prompt": prompt,
                "test": _column(columns, "test", row),
                "entry_point": _column(columns, "entry_point", row)}


def _column(columns: dict, name: str, row: int):
    values = columns.get(name)
    if values is None or row >= len(values):
        raise CodesweepError(f"execution reward: the dataset needs a '{name}' column "
                             f"(one value per completion); it has {sorted(columns) or 'none'}")
    return values[row]


def _text(completion) -> str:
    """A completion's code: the text itself, or the last message of a conversation."""
    if isinstance(completion, str):
        return completion
    return completion[-1]["content"]
