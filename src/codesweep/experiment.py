"""The parts of an experiment and how each is reused when its inputs are unchanged.

prepare (cached by content hash) -> base model (cached by hash) -> sweep (reused when the
sweep key matches) -> evaluate (already-scored pairs skipped) -> report. Nothing here prints:
every function reports through the `Progress` it is given.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from codesweep import __version__
from codesweep.config.loader import load_recipe
from codesweep.config.schema import EvalSuite, TuningRecipe
from codesweep.errors import CodesweepError, did_you_mean
from codesweep.records import (
    BASE,
    CheckpointRef,
    EvaluationRecord,
    PreparedDataRef,
    RunRecord,
    TrialResult,
    TrialSpec,
)
from codesweep.rundir import (
    has_trials,
    read_run,
    read_trials,
    results_dir,
    write_recipe,
    write_run,
    write_summary,
    write_trials,
)


class Progress(Protocol):
    """Where long-running work says what it is doing."""

    def line(self, message: str) -> None:
        """One finished thing worth a line."""

    def status(self, message: str) -> contextlib.AbstractContextManager[Any]:
        """What is happening while the block runs (a spinner on a terminal)."""


class Silent:
    """A Progress that says nothing (library use, tests)."""

    def line(self, message: str) -> None:
        """Drop the message."""

    @contextlib.contextmanager
    def status(self, message: str) -> Iterator[None]:
        """Run the block silently."""
        yield


def cache_root(explicit: Path | None = None) -> Path:
    """--cache-dir, else $CODESWEEP_CACHE (unless empty), else ./.cache/codesweep."""
    root = explicit or os.environ.get("CODESWEEP_CACHE") or Path.cwd() / ".cache" / "codesweep"
    return Path(root).resolve()


@dataclass
class Experiment:
    """A loaded tuning recipe and where its outputs go."""

    recipe_path: Path
    recipe: TuningRecipe
    run_dir: Path
    cache_root: Path

    def sibling(self, reference: str) -> Path:
        """A recipe path named in the tuning recipe, relative to the tuning recipe's folder."""
        path = (self.recipe_path.parent / reference).resolve()
        if not path.is_file():
            raise CodesweepError(f"{self.recipe_path}: referenced recipe {reference} not found")
        return path


def load_experiment(path: Path, overrides: list[str], run_dir: Path | None,
                    cache: Path | None) -> Experiment:
    """Load a tuning recipe with overrides; the run dir defaults to runs/<name>."""
    recipe = load_recipe(path, TuningRecipe, overrides)
    target = run_dir or Path(recipe.run_dir or f"runs/{recipe.name}")
    exp = Experiment(path.resolve(), recipe, target.resolve(), cache_root(cache))
    check_sweep_metric(exp)  # the suite is a separate file: check it before Ray starts
    return exp


def in_training_metrics(suite: EvalSuite) -> list[str]:
    """The `eval.<task>.<metric>` names the in-training slice reports."""
    names = []
    for task in suite.in_training_tasks():
        scores = [*task.metrics, *([f"pass@{k}" for k in task.k] if task.benchmark else [])]
        names += [f"eval.{task.name}.{score}" for score in scores]
    return names


def check_sweep_metric(exp: Experiment) -> None:
    """An `eval.*` sweep metric must be one the eval suite's in-training slice reports."""
    metric = exp.recipe.sweep.metric
    if not metric.startswith("eval."):
        return
    if not exp.recipe.eval:
        raise CodesweepError(f"{exp.recipe_path}: sweep.metric {metric} needs an eval suite "
                             "(eval: <suite.yaml> with in_training)")
    suite_path = exp.sibling(exp.recipe.eval)
    available = in_training_metrics(load_suite(suite_path))
    if metric not in available:
        raise CodesweepError(f"{exp.recipe_path}: sweep.metric {metric} is not reported by the "
                             f"in_training slice of {suite_path.name}"
                             f"{did_you_mean(metric, available)}; available: "
                             f"{', '.join(available) or 'none (declare in_training)'}")


def prepare_data(exp: Experiment, progress: Progress, force: bool = False) -> PreparedDataRef:
    """Prepare (or reuse) the dataset the recipe's pipeline describes."""
    from codesweep.config.pipeline import PipelineConfig
    from codesweep.corpus.pipeline import prepare

    pipeline_path = exp.sibling(exp.recipe.pipeline)
    config = load_recipe(pipeline_path, PipelineConfig)
    with progress.status(f"prepare: {pipeline_path.name}"):
        prepared = prepare(config, recipe_dir=pipeline_path.parent, cache_root=exp.cache_root,
                           force=force)
    progress.line(f"prepare: {'reused' if prepared.reused else 'built'} {prepared.path}")
    return PreparedDataRef(root=str(prepared.path), key=prepared.manifest["key"])


def base_model(exp: Experiment, prepared: PreparedDataRef, progress: Progress) -> str:
    """The base model's path: the recipe's hub id/dir, or the cached tiny model."""
    model = exp.recipe.model
    if model.name_or_path:
        from codesweep.models.factory import check_loadable

        check_loadable(model.name_or_path)  # a typo should not surface from inside a trial
        return model.name_or_path
    from codesweep.train.examples import read_texts
    from codesweep.train.pretrain import ensure_tiny_base

    path, reused = ensure_tiny_base(
        model.tiny, lambda: read_texts(prepared.files("train")),
        data_key=prepared.name, cache_root=exp.cache_root, log=progress.line)
    progress.line(f"base model: {'reused' if reused else 'built'} {path}")
    return str(path)


def sweep_key(exp: Experiment, prepared: PreparedDataRef, base_path: str) -> str:
    """What a finished sweep depends on: the training sections, the data and the base."""
    recipe = exp.recipe.model_dump(exclude={"eval", "tracking", "run_dir"})
    payload = json.dumps([recipe, prepared.name, base_path, __version__], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def record_run(exp: Experiment, prepared: PreparedDataRef, base_path: str,
               tracking: str | None) -> RunRecord:
    """Write run.json and the resolved recipe; return run.json's record."""
    from codesweep.tracking import tracking_uri

    write_recipe(exp.run_dir, exp.recipe)
    kept: dict[str, Any] = {}
    if (exp.run_dir / "run.json").is_file():  # keep what later parts recorded (sweep key, metric)
        previous = read_run(exp.run_dir)
        kept = {"done_sweep": previous.done_sweep, "primary_metric": previous.primary_metric}
    run = RunRecord(
        name=exp.recipe.name, recipe=str(exp.recipe_path),
        eval=str(exp.sibling(exp.recipe.eval)) if exp.recipe.eval else None,
        prepared=prepared, base_path=base_path, dtype=exp.recipe.model.dtype,
        sweep_key=sweep_key(exp, prepared, base_path),
        tracking_uri=tracking_uri(exp.run_dir, tracking or exp.recipe.tracking.uri),
        experiment=exp.recipe.tracking.experiment, codesweep_version=__version__, **kept)
    write_run(exp.run_dir, run)
    return run


def sweep_is_current(run_dir: Path, run: RunRecord) -> bool:
    """True when trials.json exists and was produced under the same sweep key."""
    return has_trials(run_dir) and run.done_sweep == run.sweep_key


def load_suite(path: Path) -> EvalSuite:
    """Load an evaluation suite recipe."""
    return load_recipe(path, EvalSuite)


def checkpoints_of(run_dir: Path, progress: Progress) -> list[CheckpointRef]:
    """The base model plus every retained checkpoint of every trial, in trial and step order."""
    from codesweep.evaluation.best import retained_checkpoints

    checkpoints = [BASE]
    for trial in read_trials(run_dir):
        retained = retained_checkpoints(trial.trial_id, trial.checkpoint)
        if not retained and trial.checkpoint:  # not a local directory: its last one only
            retained = [CheckpointRef(trial_id=trial.trial_id, path=trial.checkpoint,
                                      step=trial.final.get("step"))]
        if retained:
            checkpoints += retained
        else:
            progress.line(f"trial {trial.trial_id} has no checkpoint ({trial.status}): "
                          "not evaluated")
    return checkpoints


def check_slice(suite: EvalSuite, prepared: PreparedDataRef) -> None:
    """A slice larger than a task's split is an error now, not in every trial."""
    from codesweep.evaluation.in_training import load_slice

    if suite.in_training:
        load_slice(suite, prepared, suite.in_training.examples, suite.in_training.tasks)


def sweep(exp: Experiment, run: RunRecord, progress: Progress,
          resume: bool = False) -> list[TrialResult]:
    """Sweep (or reuse, or resume); write trials.json; log trials to MLflow."""
    from codesweep.tracking import live_trial_logger
    from codesweep.tune.sweep import collect_trials, make_tuner

    if not resume and sweep_is_current(exp.run_dir, run):
        progress.line("sweep: reused (recipe, data and base model unchanged)")
        return read_trials(exp.run_dir)
    suite_path = exp.sibling(exp.recipe.eval) if exp.recipe.eval else None
    if suite_path:
        check_slice(load_suite(suite_path), run.prepared)
    base_spec = TrialSpec(recipe=exp.recipe, base_path=run.base_path, prepared=run.prepared,
                          train_dir=str(exp.run_dir / "train"),
                          eval_suite=str(suite_path) if suite_path else None)
    live = live_trial_logger(run.tracking_uri, run.experiment, exp.run_dir, exp.recipe.name)
    trials = collect_trials(make_tuner(base_spec, exp.run_dir, resume=resume,
                                       callbacks=[live]).fit())
    if not any(t.checkpoint for t in trials):
        first_error = next((t.error for t in trials if t.error), "no checkpoint reported")
        raise CodesweepError(f"sweep: every trial failed; first error: {first_error}")
    write_trials(exp.run_dir, trials)
    write_run(exp.run_dir, run.model_copy(update={"done_sweep": run.sweep_key}))
    log_trials(exp.run_dir, run, exp.recipe, trials)
    return trials


def log_trials(run_dir: Path, run: RunRecord, recipe: TuningRecipe,
               trials: list[TrialResult]) -> None:
    """Parent run for the sweep, child per trial with params and metric curves."""
    from codesweep.tracking import Tracker

    tracker = Tracker(run.tracking_uri, run.experiment, run_dir)
    data_name = run.prepared.name  # <pipeline>-<content hash of data + recipe>
    parent = tracker.parent(recipe.name, {"codesweep.version": __version__,
                                          "codesweep.data": data_name,
                                          "codesweep.dataset_hash": data_name.rsplit("-", 1)[-1],
                                          "ray.job_id": os.environ.get("RAY_JOB_ID", "local")})
    tracker.log_params(parent, recipe.model_dump(by_alias=True))
    tracker.log_artifact(parent, run_dir / "recipe.yaml")
    for trial in trials:
        child = tracker.child(parent, trial.trial_id, {
            "checkpoint": str(trial.checkpoint), "status": trial.status,
            "best_checkpoint": str(trial.best_checkpoint)})
        tracker.log_params(child, trial.params)
        tracker.log_metrics(child, trial.history)
        tracker.finish(child, "FINISHED" if trial.status == "done" else "FAILED")
    tracker.finish(parent)


def evaluate(run_dir: Path, suite_path: Path, progress: Progress) -> list[EvaluationRecord]:
    """Score the base model and every retained trial checkpoint; summary.json; MLflow."""
    from codesweep.evaluation.runner import EvalInputs, content_hash, run_evaluation, summarize

    run = read_run(run_dir)
    suite = load_suite(suite_path)
    checkpoints = checkpoints_of(run_dir, progress)
    results = results_dir(run_dir)
    inputs = EvalInputs(run.base_path, content_hash(run.base_path), run.prepared, run.dtype)
    total = len(checkpoints) * len(suite.tasks)
    with progress.status(f"evaluate: {len(checkpoints)} checkpoints x {len(suite.tasks)} tasks"):
        outcome = run_evaluation(suite, checkpoints, inputs, results,
                                 progress=lambda counts: progress.line(f"  evaluate: {counts}"))
    progress.line(f"evaluate: {total} (checkpoint, task) pairs: {outcome.scored} scored, "
                  f"{outcome.reused} reused (inputs unchanged), {len(outcome.failed)} failed")
    for (name, task), reason in outcome.failed.items():
        progress.line(f"  failed {name} {task}: {reason}")
    summary = summarize(suite, checkpoints, results, inputs, outcome)
    write_summary(run_dir, summary)
    write_run(run_dir, run.model_copy(update={"primary_metric": suite.primary_metric,
                                              "eval": str(suite_path)}))
    log_eval(run_dir, run, summary)
    return summary


def log_eval(run_dir: Path, run: RunRecord, summary: list[EvaluationRecord]) -> None:
    """Evaluation scores into each checkpoint's child run as `eval.<task>.<metric>`."""
    from codesweep.tracking import Tracker

    tracker = Tracker(run.tracking_uri, run.experiment, run_dir)
    parent = tracker.parent(run.name, {})
    for record in summary:
        child = tracker.child(parent, record.checkpoint)
        rows = {f"eval.{record.task}.{k}": v for k, v in record.scores.items()}
        tracker.log_metrics(child, [{"step": record.step or 0, **rows}])


def set_up(exp: Experiment, tracking: str | None, progress: Progress,
           force: bool = False) -> RunRecord:
    """Everything a sweep starts from: Ray, the prepared data, the base model, run.json."""
    from codesweep.ray_runtime import ensure_ray

    ensure_ray()  # data preparation runs on Ray Data
    prepared = prepare_data(exp, progress, force=force)
    base_path = base_model(exp, prepared, progress)
    return record_run(exp, prepared, base_path, tracking)
