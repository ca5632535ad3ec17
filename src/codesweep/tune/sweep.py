"""Run a sweep. Train V2 pattern: a Tune function trainable is each trial's driver and calls
`TorchTrainer(...).fit()`; `TuneReportCallback` forwards rank-0 reports to Tune, so ASHA
sees one `training_iteration` per report and can stop weak trials early.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from codesweep.config.schema import SearchDomain, TuningRecipe, dotted_set
from codesweep.records import TrialResult, TrialSpec

SWEEP_NAME = "sweep"


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

    from codesweep.train.ray_worker import make_trainer
    from codesweep.tune.eval_reporting import report_callbacks

    trial_id = tune.get_context().get_trial_id()
    spec = base_spec.model_copy(update={"recipe": trial_recipe(base_spec.recipe, params)})
    assert spec.train_dir is not None, "a sweep's TrialSpec names its train_dir"
    trainer = make_trainer(spec, name=trial_id, storage_path=Path(spec.train_dir),
                           callbacks=report_callbacks(spec))
    trainer.fit()


def max_concurrent(recipe: TuningRecipe) -> int:
    """Trials at once: by GPUs when trials use them, else by physical cores of the cluster."""
    import ray

    if recipe.sweep.max_concurrent_trials:
        return recipe.sweep.max_concurrent_trials
    train = recipe.train
    resources = ray.cluster_resources()
    if train.gpus_per_worker:
        per_trial = max(1, train.num_workers) * train.gpus_per_worker
        return max(1, int(resources.get("GPU", 0) // per_trial))
    # Logical CPUs are over-subscribed on a laptop; real cores bound CPU training throughput.
    cores = resources.get("CPU", 1) if os.environ.get("RAY_ADDRESS") else (os.cpu_count() or 1)
    return max(1, int(cores // max(1, train.num_workers)))


def make_tuner(base_spec: TrialSpec, run_dir: Path, resume: bool,
               callbacks: list[Any] | None = None) -> Any:
    """A Tuner for the spec's recipe, restored from `run_dir/sweep` when resuming;
    `callbacks`: Tune callbacks (live tracking)."""
    from ray import tune

    recipe = base_spec.recipe
    trainable = tune.with_parameters(trial_driver, base_spec=base_spec)
    experiment = run_dir / SWEEP_NAME
    if resume and tune.Tuner.can_restore(str(experiment)):
        return tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True,
                                  resume_errored=True)
    sweep = recipe.sweep
    return tune.Tuner(
        trainable,
        param_space=search_space(sweep.space),
        tune_config=tune.TuneConfig(
            metric=sweep.metric, mode=sweep.mode, num_samples=sweep.num_trials,
            search_alg=_searcher(recipe), scheduler=_scheduler(recipe),
            max_concurrent_trials=max_concurrent(recipe)),
        run_config=tune.RunConfig(
            name=SWEEP_NAME, storage_path=str(run_dir.resolve()), verbose=1, callbacks=callbacks,
            # A driver that dies (not its workers: Train restarts those) is retried; its
            # Train run resumes from its newest checkpoint because its name is the trial id.
            failure_config=tune.FailureConfig(max_failures=recipe.train.max_failures)),
    )


def _searcher(recipe: TuningRecipe) -> Any:
    from ray.tune.search.optuna import OptunaSearch

    if not recipe.sweep.space:
        return None  # nothing to search: Tune repeats the base recipe num_trials times
    return OptunaSearch(seed=recipe.sweep.seed,
                        points_to_evaluate=recipe.sweep.points_to_evaluate or None)


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
    for result in result_grid:
        metrics = dict(result.metrics or {})
        history = result.metrics_dataframe
        keep = [c for c in ("step", "train_loss", "val_loss", "lr", "tokens_per_s")
                if history is not None and c in history]
        trials.append(TrialResult(
            trial_id=metrics.get("trial_id") or Path(result.path).name,
            params=dict(result.config or {}),
            status="error" if result.error else "done",
            error=_last_line(result.error),
            final={k: metrics.get(k) for k in keep},
            history=history[keep].to_dict("records") if keep else [],
            checkpoint=metrics.get("checkpoint_path"),
            best_checkpoint=_best_checkpoint(history),
        ))
    return sorted(trials, key=lambda t: t.trial_id)


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
    """The exception's own message: Ray prepends the remote traceback to it."""
    lines = [line for line in str(error or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else None
