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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from codesweep import __version__
from codesweep.config.loader import load_recipe
from codesweep.config.schema import EvalSuite, TuningRecipe
from codesweep.errors import CodesweepError, did_you_mean
from codesweep.mirror import Mirror, mirror_home, sync_down
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
    write_eval_timings,
    write_recipe,
    write_run,
    write_summary,
    write_trials,
)
from codesweep.storage import (
    CACHE_DIR,
    RUNS_DIR,
    StorageRef,
    fetched,
    plain_path,
    resolve_storage,
    to_uri,
)
from codesweep.storage_checks import check_not_in_job_package

if TYPE_CHECKING:
    from codesweep.cluster import ClusterInfo

if TYPE_CHECKING:
    from codesweep.tune.trial_board import TrialRow


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


def storage_root(cli: str | None = None, recipe: TuningRecipe | None = None) -> StorageRef:
    """The storage root of a command (see `codesweep.storage.resolve_storage`).

    Refused before anything starts: a root inside Ray's temporary job directory.
    """
    root = resolve_storage(cli, recipe.storage if recipe is not None else None)
    check_not_in_job_package(root)
    return root


def cache_root(explicit: Path | None = None, root: StorageRef | None = None,
               mirror: Mirror | None = None) -> Path:
    """--cache-dir, else $CODESWEEP_CACHE (unless empty), else <root>/.cache/codesweep (its
    mirror for an object-store root)."""
    if explicit:
        return plain_path(explicit, "--cache-dir").resolve()
    if os.environ.get("CODESWEEP_CACHE"):
        return plain_path(os.environ["CODESWEEP_CACHE"], "$CODESWEEP_CACHE").resolve()
    if mirror is not None:
        return mirror.cache_dir
    return (root or storage_root()).child(CACHE_DIR).local_path()


@contextlib.contextmanager
def opened_run(run: str, storage: str | None = None) -> Iterator[Path]:
    """A run directory given by path, or by name under the storage root's runs/. On an
    object-store root the named run is brought into its local mirror for the block, and what
    the block changed (scores, report) is sent back afterwards."""
    if Path(run).is_dir() or "/" in run:
        yield plain_path(run, "run")
        return
    root = storage_root(storage)
    if root.is_local:
        yield root.child(RUNS_DIR, run).local_path()
        return
    mirror = Mirror(root, mirror_home(root), f"{RUNS_DIR}/{run}")
    if not mirror.run_ref.child("run.json").exists():
        raise CodesweepError(f"{mirror.run_ref.uri}: no run named {run!r} there (run.json "
                             "missing); give the name `codesweep run` printed, or a path")
    mirror.pull_run()
    yield mirror.run_dir
    mirror.push_run()


@dataclass
class Experiment:
    """A loaded tuning recipe and where its outputs go."""

    recipe_path: Path
    recipe: TuningRecipe
    run_dir: Path
    cache_root: Path
    root: StorageRef  # the storage root the run dir and the cache default to
    verify: bool = False  # reuse of cached data and base checks every byte, not just ends
    mirror: Mirror | None = None  # an object-store root's local working copy (see mirror.py)

    @property
    def run_ref(self) -> StorageRef:
        """The run directory in storage (itself, as a file:// URI, without a mirror)."""
        if self.mirror is not None:
            return self.mirror.run_ref
        return self.root.model_copy(update={"uri": to_uri(str(self.run_dir))})

    @property
    def stored_results(self) -> StorageRef | None:
        """eval/results in storage where actors write them (an object-store root), else None."""
        return self.mirror.run_ref.child("eval", "results") if self.mirror else None

    def push(self) -> None:
        """Send the run directory's new files to an object-store root (nothing without one)."""
        if self.mirror is not None:
            self.mirror.push_run()

    def stored(self, local: Path) -> str:
        """Where a finished cache directory is read from by every node: on an object-store
        root it is uploaded (unless there already) and its URI returned, else its path."""
        if self.mirror is None or not local.is_relative_to(self.mirror.cache_dir):
            return str(local)
        return self.mirror.push_dir(local).uri

    def sibling(self, reference: str) -> Path:
        """A recipe path named in the tuning recipe, relative to the tuning recipe's folder."""
        path = (self.recipe_path.parent / reference).resolve()
        if not path.is_file():
            raise CodesweepError(f"{self.recipe_path}: referenced recipe {reference} not found")
        return path


def load_experiment(path: Path, overrides: list[str], run_dir: Path | None,
                    cache: Path | None, storage: str | None = None, *,
                    drop_searched: bool = False, verify: bool = False) -> Experiment:
    """Load a tuning recipe with overrides; the run dir defaults to <root>/runs/<name>.

    `storage` is `--storage`; the root is resolved once here and travels with the Experiment.
    `drop_searched`: an override of a searched key takes it out of the search. Every file,
    task builder and metric the recipe refers to is checked here, before anything starts.
    """
    from codesweep.preflight import check_references

    recipe = load_recipe(path, TuningRecipe, overrides, drop_searched=drop_searched)
    check_references(path.resolve(), recipe)
    root = storage_root(storage, recipe)
    mirror = None if run_dir or root.is_local else \
        Mirror(root, mirror_home(root), run_path(recipe))
    if mirror is not None:
        target = mirror.run_dir
        cache_dir = cache_root(cache, root, mirror)
    else:
        target = plain_path(run_dir, "--run-dir").resolve() if run_dir else \
            default_run_dir(recipe, root)
        cache_dir = cache_root(cache, root)
    exp = Experiment(path.resolve(), recipe, target, cache_dir, root, verify, mirror)
    check_sweep_metric(exp)  # the suite is a separate file: check it before Ray starts
    if mirror is not None:
        from codesweep.storage_checks import check_reachable

        check_reachable(root)  # one line naming the URI, not a traceback from a sync
        mirror.pull()
    return exp


def run_path(recipe: TuningRecipe) -> str:
    """The run directory relative to an object-store root: recipe run_dir:, else runs/<name>."""
    if recipe.run_dir and Path(recipe.run_dir).is_absolute():
        raise CodesweepError(f"run_dir: {recipe.run_dir} is an absolute local path, but the "
                             "storage root is an object store; give a path under the root")
    return recipe.run_dir or f"{RUNS_DIR}/{recipe.name}"


def default_run_dir(recipe: TuningRecipe, root: StorageRef) -> Path:
    """The recipe's run_dir (relative ones lie under the root), else <root>/runs/<name>."""
    if recipe.run_dir:
        local = plain_path(recipe.run_dir, "run_dir")  # a URI is an error, not a folder "s3:"
        if Path(recipe.run_dir).is_absolute():
            return local
    return root.child(recipe.run_dir or f"{RUNS_DIR}/{recipe.name}").local_path()


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
                           force=force, verify=exp.verify, progress=rebuild_notes(progress))
    location = exp.stored(Path(prepared.path))
    progress.line(f"prepare: {'reused' if prepared.reused else 'built'} {location}")
    return PreparedDataRef(root=location, key=prepared.manifest["key"])


def rebuild_notes(progress: Progress) -> Any:
    """prepare's own lines, keeping only what the user must hear: a cache being rebuilt."""
    def say(message: str) -> None:
        if message.startswith("rebuilding") or message.startswith("dataset "):
            progress.line(f"prepare: {message}")
    return say


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
        # From the split's other end: fine-tuning starts at the first rows, and a base that
        # pre-trained on them would leave it nothing new to learn. A real base has not seen
        # the user's repository either.
        model.tiny, lambda: read_texts(prepared.files("train"), from_end=True),
        data_key=prepared.name, cache_root=exp.cache_root, log=progress.line,
        verify=exp.verify)
    location = exp.stored(path)
    progress.line(f"base model: {'reused' if reused else 'built'} {location}")
    return location


def sweep_key(exp: Experiment, prepared: PreparedDataRef, base_path: str) -> str:
    """What a finished sweep depends on: the training sections, the data and the base.

    Where things are stored is not part of it: a cached base counts by its name in the cache,
    so a `ray job submit` from a fresh package dir finds the trials of the last submission.
    """
    recipe = exp.recipe.model_dump(exclude={"eval", "tracking", "run_dir", "storage"})
    base = portable_base(base_path, exp.cache_root)
    if exp.mirror is not None and base_path.startswith(exp.mirror.cache_ref.uri + "/"):
        base = base_path[len(exp.mirror.cache_ref.uri) + 1:]  # as a local cache would name it
    payload = json.dumps([recipe, prepared.name, base, __version__], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def portable_base(base_path: str, cache: Path) -> str:
    """The base model as the sweep key sees it: relative to the cache when it lies there."""
    path = Path(base_path)
    if path.is_absolute() and path.is_relative_to(cache):
        return path.relative_to(cache).as_posix()
    return base_path


def record_run(exp: Experiment, prepared: PreparedDataRef, base_path: str,
               tracking: str | None) -> RunRecord:
    """Write run.json and the resolved recipe; return run.json's record."""
    from codesweep.tracking import tracking_uri

    # The default store is sqlite in the run dir: only this driver writes it (trials are
    # logged after the sweep), so it is safe on a shared root too; a server is --tracking-uri.

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
    exp.push()
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
        retained = stored_checkpoints(trial) if trial.checkpoint and "://" in trial.checkpoint \
            else retained_checkpoints(trial.trial_id, trial.checkpoint)
        if not retained and trial.checkpoint:  # not a local directory: its last one only
            retained = [CheckpointRef(trial_id=trial.trial_id, path=trial.checkpoint,
                                      step=trial.final.get("step"))]
        if retained:
            checkpoints += retained
        else:
            progress.line(f"trial {trial.trial_id} has no checkpoint ({trial.status}): "
                          "not evaluated")
    return checkpoints


def stored_checkpoints(trial: TrialResult) -> list[CheckpointRef]:
    """A trial's reported checkpoints that storage still holds (retention deleted the rest),
    with the steps its history gives them; read from the history, not downloaded."""
    from codesweep.storage import ref_for

    reported = {row["checkpoint_path"]: row.get("step") for row in trial.history
                if isinstance(row.get("checkpoint_path"), str)}
    return [CheckpointRef(trial_id=trial.trial_id, path=path, step=step)
            for path, step in reported.items() if ref_for(path).is_dir()]


def with_scheme(trials: list[TrialResult], storage: StorageRef) -> list[TrialResult]:
    """Trials whose checkpoint paths are URIs: Ray reports a path inside the storage
    filesystem (`bucket/prefix/...`), which alone names no store."""
    from codesweep.storage import reported_uri

    if storage.is_local:
        return trials

    def uri(path: Any) -> Any:
        return reported_uri(path, storage) if isinstance(path, str) else path

    return [t.model_copy(update={
        "checkpoint": uri(t.checkpoint), "best_checkpoint": uri(t.best_checkpoint),
        "history": [{**row, "checkpoint_path": uri(row["checkpoint_path"])}
                    if "checkpoint_path" in row else row for row in t.history]})
        for t in trials]


def check_slice(suite: EvalSuite, prepared: PreparedDataRef) -> None:
    """A slice larger than a task's split is an error now, not in every trial."""
    from codesweep.evaluation.in_training import load_slice

    if suite.in_training:
        load_slice(suite, prepared, suite.in_training.examples, suite.in_training.tasks)


def sweep(exp: Experiment, run: RunRecord, progress: Progress, resume: bool = False,
          restart: bool = False,
          on_trials: Callable[[list[TrialRow]], None] | None = None) -> list[TrialResult]:
    """Sweep (or reuse, or resume an unfinished one); write trials.json; log trials to MLflow.
    SIGINT/SIGTERM stop it cleanly: the sweep is recorded as interrupted and
    `SweepInterrupted` raised. `on_trials` gets every trial's row whenever one changes (a
    live table)."""
    from codesweep.sweep_state import choose_action, clear_old_sweep, write_state
    from codesweep.tracking import live_trial_logger
    from codesweep.tune.sweep import remove_unrecorded_trials, run_sweep
    from codesweep.tune.trial_board import board_callback

    storage = exp.run_ref if exp.mirror is not None else None  # Ray's, if not the run dir
    action, message = choose_action(exp.run_dir, run.sweep_key,
                                    sweep_is_current(exp.run_dir, run), resume, restart,
                                    storage=storage)
    progress.line(message)
    if action == "reuse":
        return read_trials(exp.run_dir)
    if action == "fresh":
        clear_old_sweep(exp.run_dir, storage=storage)
    suite_path = exp.sibling(exp.recipe.eval) if exp.recipe.eval else None
    if suite_path:
        check_slice(load_suite(suite_path), run.prepared)
    write_state(exp.run_dir, "running", run.sweep_key)
    exp.push()
    train_dir = storage.child("train").uri if storage else str(exp.run_dir / "train")
    base_spec = TrialSpec(recipe=exp.recipe, base_path=run.base_path, prepared=run.prepared,
                          train_dir=train_dir,
                          eval_suite=str(suite_path) if suite_path else None)
    live = live_trial_logger(run.tracking_uri, run.experiment, exp.run_dir, exp.recipe.name,
                             run.sweep_key)
    board = [board_callback(on_trials, exp.recipe.train.max_steps)] if on_trials else []
    trials, interrupted = run_sweep(base_spec, storage or exp.run_dir,
                                    resume=action == "resume", callbacks=[live, *board])
    trials = with_scheme(trials, exp.run_ref)
    if interrupted:
        sweep_interrupted(exp, run, trials)
    unrecorded = remove_unrecorded_trials(train_dir, trials)
    if unrecorded:
        noun = "directory" if len(unrecorded) == 1 else "directories"
        progress.line(f"sweep: removed {len(unrecorded)} trial {noun} that an interrupted run "
                      f"started but Tune never recorded: {', '.join(unrecorded)}")
    if not any(t.checkpoint for t in trials):
        first_error = next((t.error for t in trials if t.error), "no checkpoint reported")
        raise CodesweepError(f"sweep: every trial failed; first error: {first_error}")
    write_trials(exp.run_dir, trials)
    write_run(exp.run_dir, run.model_copy(update={"done_sweep": run.sweep_key}))
    write_state(exp.run_dir, "done", run.sweep_key)
    log_trials(exp.run_dir, run, exp.recipe, trials)
    exp.push()
    return trials


def sweep_interrupted(exp: Experiment, run: RunRecord, trials: list[TrialResult]) -> None:
    """Record a stopped sweep as interrupted (never as swept) and raise SweepInterrupted."""
    from codesweep.locks import command_line
    from codesweep.sweep_state import SweepInterrupted, interrupted_message, write_state

    write_state(exp.run_dir, "interrupted", run.sweep_key)
    log_trials(exp.run_dir, run, exp.recipe, trials, parent_status="KILLED")
    exp.push()
    raise SweepInterrupted(interrupted_message(command_line()))


TRIAL_RUN_STATUS = {"done": "FINISHED", "error": "FAILED", "unfinished": "KILLED"}


def log_trials(run_dir: Path, run: RunRecord, recipe: TuningRecipe,
               trials: list[TrialResult], parent_status: str = "FINISHED") -> None:
    """Parent run for the sweep, child per trial with params and metric curves."""
    from codesweep.tracking import Tracker

    tracker = Tracker(run.tracking_uri, run.experiment, run_dir)
    data_name = run.prepared.name  # <pipeline>-<content hash of data + recipe>
    parent = tracker.parent(recipe.name, run.sweep_key, {"codesweep.version": __version__,
                                          "codesweep.data": data_name,
                                          "codesweep.dataset_hash": data_name.rsplit("-", 1)[-1],
                                          "ray.job_id": os.environ.get("RAY_JOB_ID", "local")})
    tracker.log_params(parent, sweep_params(recipe))
    tracker.log_artifact(parent, run_dir / "recipe.yaml")
    for trial in trials:
        child = tracker.child(parent, trial.trial_id, trial_tags(trial, recipe))
        tracker.log_params(child, {**trial_params(recipe, trial), "base_model": run.base_path})
        tracker.log_metrics(child, trial.history)
        adapter = fetched(trial.checkpoint)  # a local copy of a stored checkpoint
        if adapter and Path(adapter).is_dir():
            tracker.log_artifacts(child, Path(adapter), "adapter")
        tracker.finish(child, TRIAL_RUN_STATUS[trial.status])
    tracker.finish(parent, parent_status)


def sweep_params(recipe: TuningRecipe) -> dict[str, Any]:
    """The parent run's params: the recipe, with each searched key showing its search domain
    (`loguniform [0.002, 0.01]`) rather than the recipe default no trial used."""
    from codesweep.tracking import flatten

    params: dict[str, Any] = flatten(recipe.model_dump(by_alias=True))
    for key, domain in recipe.sweep.space.items():
        kind, values = next(iter(domain.model_dump(by_alias=True, exclude_none=True).items()))
        params[key] = f"searched: {kind} {list(values)}"
    return params


def trial_params(recipe: TuningRecipe, trial: TrialResult) -> dict[str, Any]:
    """Every resolved parameter of a trial, fixed and searched, so children compare alone."""
    from codesweep.tune.sweep import trial_recipe

    return trial_recipe(recipe, trial.params).model_dump(by_alias=True)


def trial_tags(trial: TrialResult, recipe: TuningRecipe) -> dict[str, str]:
    """A child run's tags: checkpoints, and how the trial ended in the leaderboard's words."""
    from codesweep.report import trial_status

    status = trial_status(trial, recipe.train.max_steps)
    return {"checkpoint": str(trial.checkpoint), "status": status,
            "best_checkpoint": str(trial.best_checkpoint),
            "codesweep.stopped_early": str(status.startswith("stopped early")).lower()}


def evaluate(run_dir: Path, suite_path: Path, progress: Progress,
             stored_results: StorageRef | None = None) -> list[EvaluationRecord]:
    """Score the base model and every retained trial checkpoint; summary.json; MLflow.

    `stored_results`: the run's eval/results in storage (an object-store root): actors
    write there, then the rows are brought into `run_dir` for the summary and the report.
    """
    from codesweep.evaluation.runner import EvalInputs, content_hash, run_evaluation, summarize

    run = read_run(run_dir)
    suite = load_suite(suite_path)
    checkpoints = checkpoints_of(run_dir, progress)
    results = results_dir(run_dir)
    inputs = EvalInputs(run.base_path, content_hash(fetched(run.base_path)), run.prepared,
                        run.dtype)
    total = len(checkpoints) * len(suite.tasks)
    with progress.status(f"evaluate: {len(checkpoints)} checkpoints x {len(suite.tasks)} tasks"):
        outcome = run_evaluation(suite, checkpoints, inputs, stored_results or results,
                                 progress=lambda counts: progress.line(f"  evaluate: {counts}"))
    progress.line(f"evaluate: {total} (checkpoint, task) pairs: {outcome.scored} scored, "
                  f"{outcome.reused} reused (inputs unchanged), {len(outcome.failed)} failed")
    for (name, task), reason in outcome.failed.items():
        progress.line(f"  failed {name} {task}: {reason}")
    if stored_results is not None:
        sync_down(stored_results, results)
    summary = summarize(suite, checkpoints, results, inputs, outcome)
    write_summary(run_dir, summary)
    if outcome.scored or outcome.failed:  # nothing ran: the last evaluation's times stand
        write_eval_timings(run_dir, asdict(outcome.timings))
    write_run(run_dir, run.model_copy(update={"primary_metric": suite.primary_metric,
                                              "eval": str(suite_path)}))
    log_eval(run_dir, run, summary)
    return summary


def log_eval(run_dir: Path, run: RunRecord, summary: list[EvaluationRecord]) -> None:
    """Evaluation scores into each checkpoint's child run as `eval.<task>.<metric>`."""
    from codesweep.tracking import Tracker

    tracker = Tracker(run.tracking_uri, run.experiment, run_dir)
    parent = tracker.parent(run.name, run.sweep_key, {})
    for record in summary:
        child = tracker.child(parent, record.checkpoint)
        rows = {f"eval.{record.task}.{k}": v for k, v in record.scores.items()}
        tracker.log_metrics(child, [{"step": record.step or 0, **rows}])
        if record.checkpoint == BASE.trial_id:
            # the base's row in the runs table shows which model it is, beside the trials'
            tracker.log_params(child, {"base_model": run.base_path})
            tracker.finish(child)  # trial runs finish when logged; the base's run here


def connect(root: StorageRef, progress: Progress) -> ClusterInfo:
    """Start or join Ray, say which, and check the storage root against that cluster."""
    from codesweep.cluster import check_storage_for_cluster
    from codesweep.ray_runtime import ensure_ray

    info = ensure_ray()
    progress.line(info.line())
    check_storage_for_cluster(root)
    return info


def locations(exp: Experiment, run: RunRecord) -> dict[str, str]:
    """Where a run's outputs are, as URIs the user can open (label -> URI)."""
    run_dir = exp.run_ref
    base = run.base_path
    mlflow = run.tracking_uri
    if exp.mirror is not None and mlflow.startswith("sqlite:///"):
        mlflow = f"{run_dir.child('mlflow.db').uri} (sqlite; open {mlflow} here)"
    return {"run directory": run_dir.uri,
            "leaderboard": run_dir.child("report", "leaderboard.md").uri,
            "prepared data": to_uri(run.prepared.root),
            "base model": to_uri(base) if "://" in base or Path(base).is_absolute() else base,
            "MLflow": mlflow}


def log_report(run_dir: Path, run: RunRecord) -> None:
    """The leaderboard and plots of report/ as artifacts of the sweep's parent run."""
    from codesweep.tracking import Tracker

    tracker = Tracker(run.tracking_uri, run.experiment, run_dir)
    tracker.log_artifacts(tracker.parent(run.name, run.sweep_key, {}), run_dir / "report",
                          "report")


def set_up(exp: Experiment, tracking: str | None, progress: Progress,
           force: bool = False) -> RunRecord:
    """Everything a sweep starts from: Ray, the prepared data, the base model, run.json."""
    connect(exp.root, progress)  # data preparation runs on Ray Data
    prepared = prepare_data(exp, progress, force=force)
    base_path = base_model(exp, prepared, progress)
    return record_run(exp, prepared, base_path, tracking)
