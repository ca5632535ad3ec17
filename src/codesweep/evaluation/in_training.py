"""Score one training checkpoint on a small slice of the eval suite, while training goes on.

`load_slice` runs once before training (bad settings are errors then, not mid-sweep);
`score_checkpoint` runs for every reported checkpoint, usually off the training loop (Ray
Train's validation function or an evaluation actor), and never raises: a task that cannot be
scored (model fails to load, sandbox unavailable) comes back as `eval.<task>.status: failed`
with `eval.<task>.reason`, so one broken score does not end the sweep.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from codesweep.config.schema import EvalSuite, EvalTask
from codesweep.errors import CodesweepError
from codesweep.records import PreparedDataRef


@dataclass(frozen=True)
class SliceTask:
    """One task of the in-training slice and the examples it is scored on."""

    task: EvalTask
    examples: pd.DataFrame


def load_slice(suite: EvalSuite, prepared: PreparedDataRef, examples: int,
               tasks: list[str] | None = None) -> list[SliceTask]:
    """The first `examples` examples of each named task (all tasks when `tasks` is None).

    Asking for more examples than a task's eval split holds is an error: the slice would be
    the whole split and silently slower than intended.
    """
    from codesweep.evaluation.runner import load_examples

    if isinstance(prepared, Path):  # a bare prepared-data directory (no content key known)
        prepared = PreparedDataRef(root=str(prepared), key="")
    known = {task.name: task for task in suite.tasks}
    unknown = sorted(set(tasks or []) - set(known))
    if unknown:
        raise CodesweepError(f"in-training eval: unknown task(s) {', '.join(unknown)}; "
                             f"eval suite {suite.name} has: {', '.join(known)}")
    chosen = [known[name] for name in tasks] if tasks else list(suite.tasks)
    picked = []
    for task in chosen:
        frame = load_examples(prepared, task)
        if examples > len(frame):
            raise CodesweepError(f"in-training eval: {examples} examples asked of task "
                                 f"{task.name}, its split has {len(frame)}")
        picked.append(SliceTask(task, frame.head(examples).reset_index(drop=True)))
    return picked


def score_checkpoint(checkpoint_dir: str | Path | None, base_path: str,
                     slice_tasks: list[SliceTask], dtype: str = "auto") -> dict[str, Any]:
    """`eval.<task>.<metric>` scores of one checkpoint (None: the base model) on the slice,
    plus `eval.<task>.status` (`ok` / `failed`), `.reason` when failed, and `.seconds`."""
    from codesweep.evaluation.generate import load_for_generation

    try:
        model, tokenizer = load_for_generation(
            base_path, str(checkpoint_dir) if checkpoint_dir else None, dtype)
    except Exception as exc:  # noqa: BLE001  (recorded per task, the sweep goes on)
        return {key: value for part in slice_tasks for key, value in
                _failed(part.task.name, f"cannot load {checkpoint_dir}: {_one_line(exc)}").items()}
    metrics: dict[str, Any] = {}
    for part in slice_tasks:
        metrics.update(_score_task(model, tokenizer, part))
    return metrics


def _score_task(model: Any, tokenizer: Any, part: SliceTask) -> dict[str, Any]:
    from codesweep.evaluation.generate import generate
    from codesweep.evaluation.runner import score_rows, task_scores

    name, start = part.task.name, time.perf_counter()
    try:
        predictions = generate(model, tokenizer, part.examples["prompt"].tolist(),
                               part.task.generation)
        scores = task_scores(part.task, score_rows(part.examples, predictions, part.task))
    except Exception as exc:  # noqa: BLE001  (recorded as this task's failure)
        return _failed(name, _one_line(exc))
    return {**{f"eval.{name}.{metric}": float(value) for metric, value in scores.items()},
            f"eval.{name}.status": "ok", f"eval.{name}.seconds": time.perf_counter() - start}


def _failed(task: str, reason: str) -> dict[str, Any]:
    return {f"eval.{task}.status": "failed", f"eval.{task}.reason": reason}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
