"""Spread (checkpoint x task) evaluations over Ray actors.

Each result is keyed by everything that determines it (`pair_key`): the base model's
identity, the adapter checkpoint's content hash, the prepared data's key and the task's
settings. Results live in `<run_dir>/eval/results/<key>.parquet`, one row per example, each
written atomically as soon as its (checkpoint, task) pair is scored: a re-run scores only the
pairs whose key has no file (changed inputs, or pairs lost to a killed actor or a failure)
and reuses the rest. An actor loads the base once and scores every plain LoRA checkpoint
given to it in mixed-adapter batches (`MultiAdapterEngine`); a checkpoint that does not share
the base (own tokenizer, full fine-tune) is loaded on its own. A pair that cannot be scored
is recorded as failed with its reason and the others go on.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as pads

from codesweep.config.schema import EvalSuite, EvalTask
from codesweep.errors import CodesweepError
from codesweep.fileio import write_atomic
from codesweep.records import CheckpointRef, EvaluationRecord, PreparedDataRef, join
from codesweep.storage import StorageRef, fetched, ref_for


def task_key(task: EvalTask) -> str:
    """Hash of a task's settings: a changed task is re-scored, an unchanged one reused."""
    return hashlib.sha256(task.model_dump_json().encode()).hexdigest()[:12]


WHOLE_HASH_BYTES = 256 * 2**20  # larger files (a hub base's shards) hash by name and size


def content_hash(location: str | None) -> str:
    """Hash of a model directory's files (a hub id or missing path: the name itself)."""
    digest = hashlib.sha256(str(location).encode())
    root = Path(str(location))
    if location is None or not root.is_dir():
        return digest.hexdigest()[:16]
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(root)}:{size}".encode())
        if size <= WHOLE_HASH_BYTES:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def adapter_hash(checkpoint: CheckpointRef) -> str:
    """The adapter's weights and config (not optimizer or RNG state); 'base' for the base."""
    if checkpoint.path is None:
        return "base"
    root = Path(str(fetched(checkpoint.path)))
    digest = hashlib.sha256()
    for path in sorted(root.glob("adapter_*")) + sorted(root.glob("model*.safetensors")) + \
            sorted(root.glob("tokenizer*")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class EvalInputs:
    """What every pair of one evaluation shares: the base model and the prepared data."""

    base_path: str
    base_hash: str
    prepared: PreparedDataRef
    dtype: str = "auto"


def pair_key(inputs: EvalInputs, adapter: str, task: EvalTask) -> str:
    """The key of one (checkpoint, task) result: a changed input gives a new key."""
    payload = "|".join([inputs.base_hash, adapter, inputs.prepared.key, task_key(task)])
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def result_path(results_dir: Path, key: str) -> Path:
    """Where one (checkpoint, task) pair's rows are stored."""
    return results_dir / f"{key}.parquet"


def result_location(results: Path | StorageRef, key: str) -> str:
    """Where an actor stores one pair's rows: a local path, or a URI in storage (an
    object-store root), which an actor on any node can write."""
    if isinstance(results, StorageRef):
        return results.child(f"{key}.parquet").uri
    return str(result_path(results, key))


def is_stored(location: str) -> bool:
    """True when a pair's rows are at `location` (a path or a URI)."""
    return ref_for(location).exists() if "://" in location else Path(location).is_file()


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
    dataset = pads.dataset(path, filesystem=filesystem, format="parquet")
    columns = ["id", "prompt", "completion"]
    if task.max_examples is None:
        return dataset.to_table(columns=columns).to_pandas()
    # Only the rows scored leave the files: the ids decide which (the first by id, as
    # `load_examples` orders them), then prompts and completions are read for those alone.
    ids = dataset.to_table(columns=["id"]).column("id")
    first = pc.take(ids, pc.sort_indices(ids)[:task.max_examples])
    return dataset.to_table(columns=columns, filter=pc.field("id").isin(first)).to_pandas()


def _benchmark_examples(task: EvalTask) -> pd.DataFrame:
    """HumanEval-style problems: the model writes the middle, the suffix is appended to run."""
    from codesweep.evaluation.benchmarks import load_benchmark

    assert task.benchmark is not None, "only benchmark tasks come here"
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



@dataclass(frozen=True)
class Pair:
    """One (checkpoint, task) to score and the file its rows go to."""

    checkpoint: CheckpointRef
    task: EvalTask
    path: str


@dataclass
class Job:
    """Checkpoints scored together on one task: plain adapters share one mixed batch run."""

    task: EvalTask
    pairs: list[Pair]
    examples: pd.DataFrame
    mixed: bool


@dataclass
class Timings:
    """Where an evaluation's time went. `actor_start_s` is the driver's wait until every
    actor was up; the other stages are seconds inside the actors, summed over them."""

    actor_start_s: float = 0.0
    model_load_s: float = 0.0  # the base, adapters attached to it, checkpoints loaded alone
    generate_s: float = 0.0
    score_s: float = 0.0  # metrics, sandbox execution and writing each pair's rows

    @contextlib.contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        """Add the block's wall time to `stage`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, stage, getattr(self, stage) + time.perf_counter() - start)

    def add(self, other: Timings) -> None:
        """Add another job's seconds to these."""
        for stage in fields(self):
            setattr(self, stage.name, getattr(self, stage.name) + getattr(other, stage.name))

    def line(self) -> str:
        """`actor start-up 2.1s, model load 0.4s, generation 9.8s, scoring 1.2s`."""
        return (f"actor start-up {self.actor_start_s:.1f}s, model load {self.model_load_s:.1f}s"
                f", generation {self.generate_s:.1f}s, scoring {self.score_s:.1f}s")


@dataclass
class JobResult:
    """What an actor hands back for one job: failed pairs (result path -> reason) and the
    seconds its stages took."""

    failed: dict[str, str]
    timings: Timings


@dataclass
class Outcome:
    """What an evaluation did: pairs scored now, reused, and failed (label -> reason), and
    where its time went."""

    scored: int = 0
    reused: int = 0
    failed: dict[tuple[str, str], str] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)


def label(checkpoint: CheckpointRef) -> str:
    """A checkpoint's name in progress lines and failure records: trial@step or base."""
    return checkpoint.trial_id if checkpoint.step is None else \
        f"{checkpoint.trial_id}@{checkpoint.step}"


def _store(pair: Pair, rows: pd.DataFrame) -> None:
    frame = rows.assign(checkpoint=pair.checkpoint.trial_id, step=pair.checkpoint.step,
                        task=pair.task.name)
    # a crash never leaves half a Parquet file that a re-run would take as scored
    if "://" in pair.path:  # one PUT: atomic by itself
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        ref_for(pair.path).write_bytes(buffer.getvalue())
        return
    write_atomic(Path(pair.path), functools.partial(_write_parquet, frame))


MODEL_LIBRARIES = ("transformers", "peft", "codesweep.models.adapters",
                   "codesweep.evaluation.multi_adapter")


class EvalWorker:
    """Ray actor body: the base loaded once; adapters attached as jobs name them."""

    def __init__(self, torch_threads: int, base_path: str, dtype: str) -> None:
        import torch

        torch.set_num_threads(max(1, torch_threads))
        # Imported while the driver waits for every actor at once (seconds of start-up), so
        # that the model-load stage times loading alone.
        for module in MODEL_LIBRARIES:
            importlib.import_module(module)
        # a base in storage is downloaded by this actor, onto its own node
        self.base_path, self.dtype = str(fetched(base_path)), dtype
        self.engine: Any = None

    def evaluate(self, job: Job) -> JobResult:
        """Score a job, writing each pair's rows as soon as it is scored; return the pairs
        that could not be scored (result path -> reason) and the seconds of each stage."""
        timings = Timings()
        try:
            failed = self._mixed(job, timings) if job.mixed else self._alone(job, timings)
        except Exception as exc:  # noqa: BLE001  (the pairs are recorded failed, others go on)
            failed = {pair.path: _one_line(exc) for pair in job.pairs}
        return JobResult(failed, timings)

    def _mixed(self, job: Job, timings: Timings) -> dict[str, str]:
        from codesweep.evaluation.multi_adapter import BASE, MultiAdapterEngine

        names = []
        with timings.timing("model_load_s"):
            if self.engine is None:
                self.engine = MultiAdapterEngine(self.base_path, self.dtype)
            for pair in job.pairs:
                name = BASE if pair.checkpoint.path is None else label(pair.checkpoint)
                if name != BASE and name not in self.engine.adapters:
                    self.engine.add_adapter(name, fetched(pair.checkpoint.path))
                names.append(name)
        prompts = job.examples["prompt"].tolist()
        with timings.timing("generate_s"):
            predictions = self.engine.generate(
                [(name, prompt) for name in names for prompt in prompts], job.task.generation)
        return self._score_each(job, [predictions[i * len(prompts):(i + 1) * len(prompts)]
                                      for i in range(len(names))], timings)

    def _alone(self, job: Job, timings: Timings) -> dict[str, str]:
        from codesweep.evaluation.generate import generate, load_for_generation

        outputs = []
        for pair in job.pairs:
            with timings.timing("model_load_s"):
                model, tokenizer = load_for_generation(self.base_path, pair.checkpoint.path,
                                                       self.dtype)
            with timings.timing("generate_s"):
                outputs.append(generate(model, tokenizer, job.examples["prompt"].tolist(),
                                        job.task.generation))
        return self._score_each(job, outputs, timings)

    def _score_each(self, job: Job, outputs: list[list[str]], timings: Timings
                    ) -> dict[str, str]:
        failed = {}
        with timings.timing("score_s"):
            for pair, predictions in zip(job.pairs, outputs, strict=True):
                try:
                    _store(pair, score_rows(job.examples, predictions, job.task))
                except Exception as exc:  # noqa: BLE001  (e.g. the sandbox is unavailable)
                    failed[pair.path] = _one_line(exc)
        return failed


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"


def plan(suite: EvalSuite, checkpoints: list[CheckpointRef], results_dir: Path | StorageRef,
         inputs: EvalInputs) -> tuple[list[Job], int]:
    """The jobs for every pair without a stored result, and how many pairs are reused."""
    from codesweep.evaluation.multi_adapter import shares_base

    keys = {checkpoint: adapter_hash(checkpoint) for checkpoint in checkpoints}
    jobs, reused = [], 0
    for task in suite.tasks:
        pairs = [Pair(c, task, result_location(results_dir, pair_key(inputs, keys[c], task)))
                 for c in checkpoints]
        todo = [pair for pair in pairs if not is_stored(pair.path)]
        reused += len(pairs) - len(todo)
        if not todo:
            continue
        examples = load_examples(inputs.prepared, task)
        mixable = [p for p in todo if p.checkpoint.path is None
                   or shares_base(Path(str(fetched(p.checkpoint.path))))]
        jobs += [Job(task, chunk, examples, True) for chunk in _chunks(mixable, suite.num_actors)]
        jobs += [Job(task, [p], examples, False) for p in todo if p not in mixable]
    return jobs, reused


def _chunks(pairs: list[Pair], parts: int) -> list[list[Pair]]:
    """`pairs` in up to `parts` contiguous chunks of near-equal size."""
    size = -(-len(pairs) // max(1, parts))  # ceil
    return [pairs[start:start + size] for start in range(0, len(pairs), size)] if pairs else []


def run_evaluation(suite: EvalSuite, checkpoints: list[CheckpointRef], inputs: EvalInputs,
                   results_dir: Path | StorageRef,
                   progress: Callable[[str], None] | None = None) -> Outcome:
    """Score every pair without a stored result on Ray actors; say what was done.
    `results_dir` in storage: the actors write there, wherever they run."""
    import ray

    from codesweep.ray_runtime import ensure_ray
    from codesweep.waits import wait_for_actors

    if isinstance(results_dir, Path):
        results_dir.mkdir(parents=True, exist_ok=True)
    jobs, reused = plan(suite, checkpoints, results_dir, inputs)
    outcome = Outcome(reused=reused)
    if not jobs:
        return outcome  # all scored already: no Ray start (about 10 s) for nothing
    ensure_ray()
    threads = max(1, int(suite.cpus_per_actor))
    actor: Any = ray.remote(num_cpus=suite.cpus_per_actor, num_gpus=suite.gpus_per_actor,
                       max_restarts=0)(EvalWorker)
    with outcome.timings.timing("actor_start_s"):
        actors = [actor.remote(threads, inputs.base_path, inputs.dtype)
                  for _ in range(min(suite.num_actors, len(jobs)))]
        wait_for_actors(actors, "evaluate", {"CPU": suite.cpus_per_actor,
                                             "GPU": suite.gpus_per_actor})
    pending = {actors[i % len(actors)].evaluate.remote(job): job for i, job in enumerate(jobs)}
    total, start = sum(len(job.pairs) for job in jobs), time.monotonic()
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(ref)
        failures = _job_failures(ref, job, outcome.timings)
        for pair in job.pairs:
            if pair.path in failures:
                outcome.failed[(label(pair.checkpoint), pair.task.name)] = failures[pair.path]
            else:
                outcome.scored += 1
        if progress:
            done = outcome.scored + len(outcome.failed)
            progress(f"{done}/{total} (checkpoint, task) pairs, "
                     f"{time.monotonic() - start:.0f}s elapsed")
    if progress:
        progress(f"time: {outcome.timings.line()}")
    return outcome


def _job_failures(ref: Any, job: Job, timings: Timings) -> dict[str, str]:
    """The job's failed pairs, its seconds added to `timings`; all of its pairs when its
    actor died (pairs it stored are kept)."""
    import ray

    try:
        result = ray.get(ref)
        timings.add(result.timings)
        return result.failed
    except ray.exceptions.RayError as exc:
        return {pair.path: f"evaluation actor failed: {_one_line(exc)}" for pair in job.pairs
                if not is_stored(pair.path)}


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def summarize(suite: EvalSuite, checkpoints: list[CheckpointRef], results_dir: Path,
              inputs: EvalInputs, outcome: Outcome | None = None) -> list[EvaluationRecord]:
    """Corpus-level scores per (checkpoint, task), recomputed from the stored rows; a failed
    pair is a record with status failed and its reason."""
    failed = outcome.failed if outcome else {}
    records = []
    for checkpoint in checkpoints:
        adapter = adapter_hash(checkpoint)
        for task in suite.tasks:
            path = result_path(results_dir, pair_key(inputs, adapter, task))
            reason = failed.get((label(checkpoint), task.name))
            common = {"checkpoint": checkpoint.trial_id, "step": checkpoint.step,
                      "task": task.name}
            if path.is_file():
                rows = pd.read_parquet(path)
                records.append(EvaluationRecord(**common, n=len(rows),
                                                scores=task_scores(task, rows)))
            elif reason:
                records.append(EvaluationRecord(**common, n=0, scores={}, status="failed",
                                                reason=reason))
    return records
