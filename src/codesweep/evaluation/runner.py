"""Spread (checkpoint x task) evaluations over Ray actors, one model per actor.

Results live in `<run_dir>/eval/results/<checkpoint>__<task>.parquet`, one row per example;
a pair whose file exists for the same suite settings is skipped, so re-runs only score
what is new.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from codesweep.config.schema import EvalSuite, EvalTask
from codesweep.errors import CodesweepError
from codesweep.fileio import write_atomic
from codesweep.records import CheckpointRef, EvaluationRecord, PreparedDataRef, join
from codesweep.storage import ref_for


def task_key(task: EvalTask) -> str:
    """Hash of a task's settings: a changed task is re-scored, an unchanged one reused."""
    return hashlib.sha256(task.model_dump_json().encode()).hexdigest()[:12]


def result_path(results_dir: Path, checkpoint: str, task: EvalTask) -> Path:
    """Where one (checkpoint, task) pair's rows are stored."""
    return results_dir / f"{checkpoint}__{task.name}__{task_key(task)}.parquet"


def load_examples(prepared: PreparedDataRef, task: EvalTask) -> pd.DataFrame:
    """The task's examples in a stable order: id, prompt, completion (+ benchmark columns)."""
    frame = _benchmark_examples(task) if task.benchmark else _prepared_examples(prepared, task)
    frame = frame.sort_values("id", kind="stable").head(task.max_examples)
    if task.samples_per_problem > 1:  # n samples per problem: repeat each prompt n times
        frame = frame.loc[frame.index.repeat(task.samples_per_problem)]
        frame["id"] = frame["id"] + "#" + frame.groupby("id").cumcount().astype(str)
    return frame.reset_index(drop=True)


def _prepared_examples(prepared: PreparedDataRef, task: EvalTask) -> pd.DataFrame:
    split = ref_for(join(prepared.tasks(), str(task.dataset), task.split))
    if not split.is_dir():  # read through the storage root's filesystem, local or shared
        available = ref_for(prepared.tasks()).list()
        raise CodesweepError(f"eval task {task.name}: no prepared data {task.dataset}/{task.split}"
                             f"; prepared tasks: {', '.join(available) or 'none'}")
    filesystem, path = split.pyarrow_target()
    return pq.read_table(path, columns=["id", "prompt", "completion"],
                         filesystem=filesystem).to_pandas()


def _benchmark_examples(task: EvalTask) -> pd.DataFrame:
    """HumanEval-style problems: the model writes the middle, the suffix is appended to run."""
    from codesweep.evaluation.benchmarks import load_benchmark

    problems = load_benchmark(task.benchmark, task.benchmark_params)
    return pd.DataFrame({
        "id": problems["task_id"], "task_id": problems["task_id"], "prompt": problems["prefix"],
        "completion": problems["middle"], "suffix": problems["suffix"],
        "test": problems["test"], "entry_point": problems["entry_point"],
    })


def task_scores(task: EvalTask, rows: pd.DataFrame) -> dict[str, float]:
    """Corpus-level scores of stored rows: text metrics, plus pass@k for benchmarks."""
    from codesweep.metrics import compute, corpus_pass_at_k

    scores: dict[str, float] = {}
    if task.metrics:
        scores.update(compute(task.metrics, rows["prediction"].tolist(),
                              rows["reference"].tolist(), language=task.language).scores)
    if task.benchmark:
        counts = rows.groupby("task_id")["passed"].agg(["size", "sum"])
        scores.update(corpus_pass_at_k(
            {tid: (int(n), int(c)) for tid, (n, c) in counts.iterrows()}, task.k))
    return scores


def score_rows(frame: pd.DataFrame, predictions: list[str], task: EvalTask) -> pd.DataFrame:
    """Attach predictions, per-example metric values and execution results to the rows."""
    from codesweep.metrics import compute

    rows = frame.rename(columns={"completion": "reference"}).assign(prediction=predictions)
    if task.metrics:
        scored = compute(task.metrics, predictions, rows["reference"].tolist(),
                         language=task.language)
        for name, values in scored.per_example.items():
            rows[name] = values
    if task.benchmark:
        rows = _execute(rows, task)
    return rows


def _execute(rows: pd.DataFrame, task: EvalTask) -> pd.DataFrame:
    """Run prefix + prediction + suffix against each problem's tests in the sandbox."""
    from codesweep.execution import run_samples

    problems = {r.task_id: {"task_id": r.task_id, "prompt": r.prompt, "test": r.test,
                            "entry_point": r.entry_point} for r in rows.itertuples()}
    samples = [{"task_id": r.task_id, "completion": r.prediction + r.suffix}
               for r in rows.itertuples()]
    results = run_samples(problems, samples, timeout=task.timeout,
                          workers=max(1, min(4, os.cpu_count() or 1)))
    return rows.assign(passed=[r.passed for r in results], status=[r.status for r in results],
                       reason=[r.reason for r in results])


class EvalWorker:
    """Ray actor body: load one checkpoint at a time and score tasks with it."""

    def __init__(self, torch_threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, torch_threads))

    def evaluate(self, base_path: str, checkpoint: CheckpointRef,
                 tasks: list[tuple[EvalTask, pd.DataFrame]],
                 dtype: str) -> list[tuple[str, pd.DataFrame, dict[str, float]]]:
        from codesweep.evaluation.generate import generate, load_for_generation

        model, tokenizer = load_for_generation(base_path, checkpoint.path, dtype)
        results = []
        for task, frame in tasks:
            predictions = generate(model, tokenizer, frame["prompt"].tolist(), task.generation)
            rows = score_rows(frame, predictions, task)
            results.append((task.name, rows, task_scores(task, rows)))
        return results


def pending_work(suite: EvalSuite, checkpoints: list[CheckpointRef], results_dir: Path,
                 prepared: PreparedDataRef
                 ) -> dict[CheckpointRef, list[tuple[EvalTask, pd.DataFrame]]]:
    """The (checkpoint -> tasks) pairs that have no stored results yet."""
    examples = {task.name: load_examples(prepared, task) for task in suite.tasks}
    work: dict[CheckpointRef, list[tuple[EvalTask, pd.DataFrame]]] = {}
    for checkpoint in checkpoints:
        todo = [(task, examples[task.name]) for task in suite.tasks
                if not result_path(results_dir, checkpoint.trial_id, task).is_file()]
        if todo:
            work[checkpoint] = todo
    return work


def run_evaluation(suite: EvalSuite, checkpoints: list[CheckpointRef], base_path: str,
                   prepared: PreparedDataRef, results_dir: Path, dtype: str = "auto",
                   progress: Callable[[str], None] | None = None) -> int:
    """Evaluate every pending pair on Ray actors; return how many pairs were scored."""
    import ray
    from ray.util import ActorPool

    from codesweep.ray_runtime import ensure_ray
    from codesweep.waits import wait_for_actors

    results_dir.mkdir(parents=True, exist_ok=True)
    work = pending_work(suite, checkpoints, results_dir, prepared)
    if not work:
        return 0  # all scored already: no Ray start (about 10 s) for nothing
    ensure_ray()
    threads = max(1, int(suite.cpus_per_actor))
    actor = ray.remote(num_cpus=suite.cpus_per_actor, num_gpus=suite.gpus_per_actor)(EvalWorker)
    actors = [actor.remote(threads) for _ in range(min(suite.num_actors, len(work)))]
    wait_for_actors(actors, "evaluate", {"CPU": suite.cpus_per_actor,
                                         "GPU": suite.gpus_per_actor})
    pool = ActorPool(actors)
    jobs = list(work.items())
    scored = 0
    outputs_per_job = pool.map(
        lambda actor, job: actor.evaluate.remote(base_path, job[0], job[1], dtype), jobs)
    for (checkpoint, _), outputs in zip(jobs, outputs_per_job, strict=True):
        for task_name, rows, _scores in outputs:
            task = next(t for t in suite.tasks if t.name == task_name)
            frame = rows.assign(checkpoint=checkpoint.trial_id, task=task_name)
            # a crash never leaves half a Parquet file that a re-run would take as scored
            write_atomic(result_path(results_dir, checkpoint.trial_id, task),
                         functools.partial(_write_parquet, frame))
            scored += 1
        if progress:
            progress(checkpoint.trial_id)
    return scored


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def summarize(suite: EvalSuite, checkpoints: list[CheckpointRef],
              results_dir: Path) -> list[EvaluationRecord]:
    """Corpus-level scores per (checkpoint, task), recomputed from the stored rows."""
    records = []
    for checkpoint in checkpoints:
        for task in suite.tasks:
            path = result_path(results_dir, checkpoint.trial_id, task)
            if path.is_file():
                rows = pd.read_parquet(path)
                records.append(EvaluationRecord(checkpoint=checkpoint.trial_id, task=task.name,
                                                n=len(rows), scores=task_scores(task, rows)))
    return records
