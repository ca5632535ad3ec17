"""Run a sweep. Train V2 pattern: a Tune function trainable is each trial's driver and calls
`TorchTrainer(...).fit()`; `TuneReportCallback` forwards rank-0 reports to Tune, so ASHA
sees one `training_iteration` per report and can stop weak trials early.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codesweep.config.schema import SearchDomain, TuningRecipe, dotted_set
from codesweep.records import TrialResult, TrialSpec
from codesweep.storage import StorageRef, ref_for
from codesweep.sweep_state import SWEEP_NAME, can_restore, stop_on_signals

TRIAL_DRIVER_CPUS = 1  # Tune's default for a function trainable; it runs the trial's Train driver

def search_space(space: dict[str, SearchDomain]) -> dict[str, Any]:
    """Tune domains keyed by dotted recipe paths (flat keys: Optuna sees them as they are)."""
    from ray import tune

    domains: dict[str, Any] = {}
    for key, domain in space.items():
        if domain.choice is not None:
            domains[key] = tune.choice(domain.choice)
        elif domain.uniform is not None:
            domains[key] = tune.uniform(*domain.uniform)
        elif domain.loguniform is not None:
            domains[key] = tune.loguniform(*domain.loguniform)
        else:
            low, high = domain.integer  # type: ignore[misc]
            domains[key] = tune.randint(low, high + 1)  # recipe bounds are inclusive
    return domains


def trial_recipe(recipe: TuningRecipe, params: dict[str, Any]) -> TuningRecipe:
    """The recipe with a trial's dotted parameters written in. Only the searched values are
    new, so this is where they are checked (the base recipe was validated at load)."""
    if not params:
        return recipe
    data = copy.deepcopy(recipe.model_dump(by_alias=True))
    for key, value in params.items():
        dotted_set(data, key, value)
    return TuningRecipe.model_validate(data)


def trial_driver(params: dict[str, Any], base_spec: TrialSpec) -> None:
    """Tune function trainable: build this trial's spec and run its TorchTrainer to the end."""
    from ray import tune
    from ray.train import WorkerGroupError
    from ray.tune.integration.ray_train import TuneReportCallback

    from codesweep.train.ray_worker import make_trainer
    from codesweep.tune.eval_reporting import report_callbacks

    trial_id = tune.get_context().get_trial_id()
    spec = base_spec.model_copy(update={"recipe": trial_recipe(base_spec.recipe, params)})
    assert spec.train_dir is not None, "a sweep's TrialSpec names its train_dir"
    callbacks = report_callbacks(spec)
    # In-training scoring hangs off Ray Train's report callbacks, which a trial training in
    # its own process (no Train workers) never calls: keep Train workers for it. Its
    # callback applies retention once a checkpoint is scored (see tune/eval_reporting.py).
    scores_in_training = not all(isinstance(c, TuneReportCallback) for c in callbacks)
    trainer = make_trainer(spec, name=trial_id, storage_path=spec.train_dir,
                           callbacks=callbacks, allow_in_process=not scores_in_training,
                           keep_every_checkpoint=scores_in_training)
    try:
        trainer.fit()
    except WorkerGroupError as exc:
        raise TrialFailed(worker_failure_line(exc)) from exc


class TrialFailed(RuntimeError):
    """A trial's workers failed; the message is the first worker's error, in full."""


def worker_failure_line(error: Any) -> str:
    """`Type: first line of the message` of the lowest rank's failure. Ray Train's own
    message keeps only the first and last 500 characters of each worker's traceback, so the
    error's last line can start mid-word; the worker's exception itself is whole."""
    failures = getattr(error, "worker_failures", None) or {}
    if not failures:
        return _last_line(error) or type(error).__name__
    failure = failures[min(failures)]
    failure = getattr(failure, "cause", None) or failure  # a RayTaskError wraps the original
    lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
    return f"{type(failure).__name__}: {lines[0]}" if lines else type(failure).__name__


def max_concurrent(recipe: TuningRecipe, scoring_cpus: float = 0.0) -> int:
    """Trials at once: by GPUs when trials use them, else by physical cores of the cluster.
    With `scoring_cpus` (a trial scores its checkpoints in training), each trial also needs
    room for one scoring task beside its driver and workers: without it the scores wait for
    the trials to end (seen: 2 trials on 4 logical CPUs, every score pending)."""
    import ray

    from codesweep.ray_runtime import ensure_ray

    if recipe.sweep.max_concurrent_trials:
        return recipe.sweep.max_concurrent_trials
    train = recipe.train
    resources = ray.cluster_resources()
    if train.gpus_per_worker:
        per_trial = max(1, train.num_workers) * train.gpus_per_worker
        return max(1, int(resources.get("GPU", 0) // per_trial))
    # Logical CPUs are over-subscribed on a laptop; real cores bound CPU training throughput.
    cores = resources.get("CPU", 1) if ensure_ray().joined else (os.cpu_count() or 1)
    trials = int(cores // max(1, train.num_workers))
    if scoring_cpus:
        per_trial = TRIAL_DRIVER_CPUS + train.num_workers * train.cpus_per_worker + scoring_cpus
        trials = min(trials, int(resources.get("CPU", 1) // per_trial))
    return max(1, trials)


def make_tuner(base_spec: TrialSpec, run_dir: Path | StorageRef, resume: bool,
               callbacks: list[Any] | None = None) -> Any:
    """A Tuner for the spec's recipe, restored from `run_dir/sweep` when resuming.

    `run_dir` is a local directory or a place in storage (an object-store root): Tune then
    writes its experiment state through that filesystem, and restores from it.

    Tune's own trial tables are off (`verbose=0`) unless CODESWEEP_VERBOSE is set: the
    `callbacks` (a live trial board) say what the sweep is doing instead.
    """
    from ray import tune

    recipe = base_spec.recipe
    from codesweep.cluster import max_cluster_resources, trial_driver_resources

    # On a cluster whose head offers TRAIN_DRIVER, trial drivers stay there and never hold
    # a worker node's CPUs; elsewhere this is Tune's default of one CPU per trial.
    trainable = tune.with_resources(
        tune.with_parameters(trial_driver, base_spec=base_spec),
        trial_driver_resources(max_cluster_resources(), cpus=TRIAL_DRIVER_CPUS))
    storage = run_dir if isinstance(run_dir, StorageRef) else ref_for(str(Path(run_dir).resolve()))
    experiment = storage.child(SWEEP_NAME)
    filesystem = storage.ray_storage().get("storage_filesystem")
    if resume and can_restore(storage):
        return tune.Tuner.restore(experiment.path, trainable=trainable, resume_unfinished=True,
                                  resume_errored=True, storage_filesystem=filesystem)
    sweep = recipe.sweep
    return tune.Tuner(
        trainable,
        param_space=search_space(sweep.space),
        tune_config=tune.TuneConfig(
            metric=sweep.metric, mode=sweep.mode, num_samples=sweep.num_trials,
            search_alg=_searcher(recipe), scheduler=_scheduler(recipe),
            max_concurrent_trials=max_concurrent(recipe, scoring_cpus(base_spec))),
        run_config=tune.RunConfig(
            name=SWEEP_NAME, **storage.ray_storage(), callbacks=callbacks,
            verbose=2 if os.environ.get("CODESWEEP_VERBOSE") else 0,
            # A driver that dies (not its workers: Train restarts those) is retried; its
            # Train run resumes from its newest checkpoint because its name is the trial id.
            failure_config=tune.FailureConfig(max_failures=recipe.train.max_failures)),
    )


def scoring_cpus(spec: TrialSpec) -> float:
    """CPUs one in-training scoring task asks for (0 when the sweep scores after training)."""
    from codesweep.tune.eval_reporting import in_training_suite

    suite = in_training_suite(spec)
    return float(suite.cpus_per_actor) if suite is not None else 0.0


@contextlib.contextmanager
def tune_output() -> Iterator[None]:
    """Where Tune's own prints go: nowhere unless CODESWEEP_VERBOSE is set. Even at
    verbose=0 Tune prints its configuration table, the results path and a TensorBoard hint
    to stdout; the caller's trial board says what the sweep is doing instead. Tune's
    "Stop signal received" warning is dropped too: the interrupted sweep ends with our own
    line saying how to continue (`interrupted_message`)."""
    if os.environ.get("CODESWEEP_VERBOSE"):
        yield
        return
    tune_logger = logging.getLogger("ray.tune.tune")
    tune_logger.addFilter(_drop_stop_signal_notice)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        tune_logger.removeFilter(_drop_stop_signal_notice)


def _drop_stop_signal_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Stop signal received")


def run_sweep(base_spec: TrialSpec, run_dir: Path | StorageRef, resume: bool,
              callbacks: list[Any] | None = None) -> tuple[list[TrialResult], bool]:
    """Fit the sweep's Tuner; return its trials and whether SIGINT/SIGTERM stopped it."""
    with stop_on_signals() as stopped, tune_output():
        tuner = make_tuner(base_spec, run_dir, resume=resume, callbacks=callbacks)
        trials = collect_trials(tuner.fit())
    interrupted = stopped.is_set() or any(t.status == "unfinished" for t in trials)
    if interrupted:  # the signal reaches the trials too: their errors are the interrupt's
        trials = [t if t.status == "done" else t.model_copy(update={"status": "unfinished"})
                  for t in trials]
    settle_scored_trials(base_spec, trials)
    return trials, interrupted


def remove_unrecorded_trials(train_dir: str, trials: list[TrialResult]) -> list[str]:
    """Remove the trial directories under `train_dir` that no trial of the finished sweep
    owns, and return their names. A killed run leaves one when a trial started after Tune
    last saved its state: the rerun does not know it and runs a new trial in its place."""
    root = ref_for(train_dir)
    owned = {trial.trial_id for trial in trials}
    unrecorded = [name for name in root.list()
                  if name not in owned and root.child(name).is_dir()]
    for name in unrecorded:
        root.child(name).delete_tree()
    return unrecorded


def settle_scored_trials(base_spec: TrialSpec, trials: list[TrialResult]) -> None:
    """Retention for finished trials that scored in training (see `settle_checkpoints`);
    unfinished ones keep every checkpoint, since they resume from their newest."""
    from codesweep.train.retention import loss_or_inf
    from codesweep.tune.eval_reporting import in_training_suite, settle_checkpoints

    if base_spec.train_dir is None or in_training_suite(base_spec) is None:
        return
    train = base_spec.recipe.train
    for trial in trials:
        if trial.status != "done":
            continue
        reported = [(str(row["checkpoint_path"]), loss_or_inf(row.get("val_loss")))
                    for row in trial.history if isinstance(row.get("checkpoint_path"), str)]
        settle_checkpoints(f"{base_spec.train_dir}/{trial.trial_id}", reported,
                           train.keep_checkpoints, train.keep_by)


def _searcher(recipe: TuningRecipe) -> Any:
    from optuna.samplers import TPESampler
    from ray.tune.search.optuna import OptunaSearch

    if not recipe.sweep.space:
        return None  # nothing to search: Tune repeats the base recipe num_trials times
    sampler = TPESampler(seed=recipe.sweep.seed,
                         n_startup_trials=tpe_startup_trials(recipe.sweep.num_trials))
    return OptunaSearch(sampler=sampler,
                        points_to_evaluate=recipe.sweep.points_to_evaluate or None)


def tpe_startup_trials(num_trials: int) -> int:
    """Random samples before TPE models the results: a third of the budget, at most Optuna's
    default of 10. With the default, a sweep of 10 trials or fewer never leaves random search."""
    return max(1, min(10, num_trials // 3))


def _scheduler(recipe: TuningRecipe) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    scheduler = recipe.sweep.scheduler
    if scheduler.type == "fifo":
        return FIFOScheduler()
    reports = -(-recipe.train.max_steps // recipe.train.report_every)  # ceil
    return ASHAScheduler(time_attr="training_iteration", max_t=reports,
                         grace_period=min(scheduler.grace_period, reports),
                         reduction_factor=scheduler.reduction_factor)


def collect_trials(result_grid: Any) -> list[TrialResult]:
    """One summary per trial: params, final metrics, metric history and last checkpoint."""
    trials = []
    tune_trials = trials_of(result_grid)
    for index, result in enumerate(result_grid):
        tune_trial = tune_trials[index] if tune_trials else None
        metrics = dict(result.metrics or {})
        history = result.metrics_dataframe
        keep = [c for c in ("step", "train_loss", "val_loss", "lr", "tokens_per_s",
                            "checkpoint_path")
                if history is not None and c in history]
        trials.append(TrialResult(
            trial_id=metrics.get("trial_id") or getattr(tune_trial, "trial_id", None)
            or Path(result.path).name,
            params=dict(result.config or {}),
            status=_status(getattr(tune_trial, "status", None), result.error),
            error=_last_line(result.error),
            final={k: metrics.get(k) for k in keep if k != "checkpoint_path"},
            history=history[keep].to_dict("records") if keep else [],
            checkpoint=metrics.get("checkpoint_path"),
            best_checkpoint=_best_checkpoint(history),
        ))
    return sorted(trials, key=lambda t: t.trial_id)


def trials_of(result_grid: Any) -> list[Any]:
    """Tune's trials (status TERMINATED, ERROR, RUNNING, PENDING, PAUSED; trial_id), in the
    order the grid lists its results; the public Result carries neither for a trial that
    never reported."""
    analysis = getattr(result_grid, "_experiment_analysis", None)
    return list(analysis.trials) if analysis is not None else []


def _status(tune_status: str | None, error: Exception | None) -> str:
    if error is not None or tune_status == "ERROR":
        return "error"
    if tune_status in (None, "TERMINATED"):
        return "done"
    return "unfinished"  # RUNNING/PENDING/PAUSED when the sweep was stopped


def _best_checkpoint(history: Any) -> str | None:
    """The reported checkpoint with the lowest val_loss (kept by `train.keep_by: val_loss`)."""
    if history is None or "checkpoint_path" not in history or "val_loss" not in history:
        return None
    rows = history.dropna(subset=["checkpoint_path", "val_loss"])
    if rows.empty:
        return None
    best = str(rows.loc[rows["val_loss"].idxmin(), "checkpoint_path"])
    # With keep_by: last the best may have been deleted since; remote URIs are trusted.
    return best if "://" in best or Path(best).exists() else None


def _last_line(error: Exception | None) -> str | None:
    """The exception's own message: Ray prepends the remote traceback to it (a TrialFailed
    is shown as the worker error it carries)."""
    lines = [line for line in str(error or "").splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1].strip()
    marker = f"{TrialFailed.__name__}: "
    return last.split(marker, 1)[1] if marker in last else last
