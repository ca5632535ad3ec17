"""Let Tune and ASHA see `eval.<task>.<metric>` for every reported checkpoint.

Ray Train 2.60's asynchronous validation (`ValidationConfig` + `report(..., validation=True)`)
merges validated metrics into its own checkpoint records only: `TuneReportCallback` forwards a
report to Tune as soon as the workers report it, before its validation has run, and
`UserCallback` has no hook that fires when a validation finishes. So the scores never reach
a Tune trial while it runs.

`EvalReportCallback` takes `TuneReportCallback`'s place in the trial driver's
`ray.train.RunConfig(callbacks=[...])`. For each report with a checkpoint it starts a Ray task
(on its own resources) that scores the checkpoint on the in-training slice, and it holds the
report back until that score is in; reports then reach Tune in step order with the scores of
their own checkpoint. Training never waits for a score. What a rung decision sees: ASHA
decides at Tune iteration k on the score of the k-th checkpoint; while that score is being
computed the trial's Tune iteration count lags behind its training, so a trial that ASHA stops
may have trained on for up to the scoring time of one report.

Retention waits for the scores: Ray Train deleted a checkpoint beyond `train.keep_checkpoints`
as soon as a newer one arrived, often before its scoring task had loaded it (seen on the first
checkpoint of a fast trial). So a trial that scores in training keeps every checkpoint in
Ray's own bookkeeping, and this callback applies the recipe's retention rule to the
checkpoints whose scores are in.

The last reports are released at controller shutdown, close to the moment `fit()` returns and
Tune's function trainable posts its own end-of-run result; if that result reaches the
trainable's one-slot result queue while a forwarded report is still on its way, both block
(seen as a sweep that hung after its last report). So shutdown also waits until the trial
has taken every forwarded report off the queue.

A failed score is forwarded as `eval.<task>.status: failed` (+ `.reason`). Tune refuses a
result without its metric, so when the sweep metric is one of the failed task's, it carries
the worst value of its direction (-inf when maximized, +inf when minimized): ASHA stops such
a trial at its next rung and Optuna ranks it last, while the sweep goes on.

The callback uses Ray Train's controller callback hooks (`ControllerCallback`,
`ReportCallback`: developer APIs of ray 2.60, pinned), as the built-in validation does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codesweep.storage import StorageRef

CHECKPOINT_PATH_KEY = "checkpoint_path"  # the key TuneReportCallback uses
SHUTDOWN_POLL_S = 0.2


class HeldReports:
    """Training reports waiting for their checkpoint's score, released in report order."""

    def __init__(self) -> None:
        self._waiting: deque[tuple[dict[str, Any], Any]] = deque()

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, metrics: dict[str, Any], score: Any | None) -> None:
        """Queue a report; `score` is a handle to its pending score (None: nothing to score)."""
        self._waiting.append((metrics, score))

    def release(self, is_done: Callable[[Any], bool],
                fetch: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
        """Reports whose scores are in, merged with them, up to the first one still pending:
        a later report never overtakes an earlier one (Tune's iterations stay in step order)."""
        ready = []
        while self._waiting:
            metrics, score = self._waiting[0]
            if score is not None and not is_done(score):
                break
            self._waiting.popleft()
            ready.append({**metrics, **(fetch(score) if score is not None else {})})
        return ready


def _outside_trial_placement_group() -> Any:
    """Tune captures tasks started inside a trial into the trial's placement group, whose
    bundle the trial driver already fills: a scoring task left there never starts (seen with
    Ray Train's own validation task on ray 2.60). Schedule it on the cluster instead."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    return PlacementGroupSchedulingStrategy(placement_group=None)  # type: ignore[arg-type]


def _ray_callback_bases() -> tuple[type, ...]:
    from ray.train.v2._internal.execution.callback import ControllerCallback, ReportCallback

    return ControllerCallback, ReportCallback


class EvalReportCallback(*_ray_callback_bases()):  # type: ignore[misc]
    """Score each reported checkpoint off the training loop; forward reports to Tune with
    their scores (construct it inside the Tune function trainable, like TuneReportCallback)."""

    def __init__(self, base_path: str, slice_tasks: list[Any], dtype: str = "auto",
                 resources: dict[str, Any] | None = None, metric: str | None = None,
                 mode: str = "max", keep: int | None = None, keep_by: str = "last",
                 storage: StorageRef | None = None) -> None:
        from ray.train._internal.session import get_session

        session = get_session()
        if session is None:
            raise RuntimeError("EvalReportCallback must run inside a Tune trial")
        self._tune_queue = session._get_or_create_inter_actor_queue()
        self._score_args = (base_path, slice_tasks, dtype)
        self._metric, self._mode = metric, mode
        self._resources = resources or {"num_cpus": 1}
        self._held = HeldReports()
        self._keep, self._keep_by = keep, keep_by
        self._storage = storage  # the StorageRef of the trial's checkpoints (None: local)
        self._scored: list[tuple[str, float]] = []  # (checkpoint path, val_loss), oldest first

    def after_report(self, training_report: Any, metrics: list[dict[str, Any]]) -> None:
        """Start scoring the report's checkpoint, hold the report, forward what is ready."""
        import ray

        from codesweep.evaluation.in_training import score_checkpoint

        result = dict(metrics[0])
        score = None
        if training_report.checkpoint is not None:
            path = self._uri(training_report.checkpoint.path)
            result[CHECKPOINT_PATH_KEY] = path
            task = ray.remote(**self._resources)(score_checkpoint).options(
                scheduling_strategy=_outside_trial_placement_group())
            score = task.remote(path, *self._score_args)
        self._held.add(result, score)
        self._forward()

    def after_controller_state_update(self, previous_state: Any, current_state: Any) -> None:
        """Called on every controller loop: forward the reports whose scores came in."""
        self._forward()

    async def before_controller_shutdown(self) -> None:
        """Training is over: wait for the last scores so no report is lost. The controller
        is an asyncio actor: poll and sleep, as Ray's own validation does, instead of a
        blocking `ray.get` on its event loop (which stalled the last report)."""
        import asyncio

        self._forward()
        while len(self._held):
            await asyncio.sleep(SHUTDOWN_POLL_S)
            self._forward()
        while not await self._tune_queue.actor.empty.remote():
            await asyncio.sleep(SHUTDOWN_POLL_S)

    def _forward(self) -> None:
        import ray

        def is_done(ref: Any) -> bool:
            return bool(ray.wait([ref], timeout=0)[0])

        for result in self._held.release(is_done, ray.get):
            self._tune_queue.put(with_sweep_metric(result, self._metric, self._mode))
            if CHECKPOINT_PATH_KEY in result:
                self._retain(result[CHECKPOINT_PATH_KEY], result.get("val_loss"))

    def _uri(self, path: str) -> str:
        from codesweep.storage import reported_uri

        return path if self._storage is None else reported_uri(path, self._storage)

    def _retain(self, checkpoint_path: str, val_loss: Any) -> None:
        """Apply the recipe's retention rule now that this checkpoint's score is in."""
        from codesweep.storage import ref_for
        from codesweep.train.retention import beyond_retention, loss_or_inf

        if self._keep is None:
            return
        self._scored.append((checkpoint_path, loss_or_inf(val_loss)))
        for doomed in beyond_retention(self._scored, self._keep, self._keep_by):
            ref_for(doomed, like=self._storage).delete_tree()
            self._scored = [entry for entry in self._scored if entry[0] != doomed]


def settle_checkpoints(trial_dir: str, reported: list[tuple[str, float]], keep: int,
                       keep_by: str) -> list[str]:
    """After a trial that scored in training ended: keep what the retention rule keeps of
    the checkpoints it reported to Tune (oldest first, with val_loss), and drop those Tune
    never saw: ASHA stopped the trial while their scores were pending, so they hold the
    training that ran on past the stop. Return the deleted checkpoint paths."""
    from codesweep.storage import ref_for, reported_uri
    from codesweep.train.retention import beyond_retention

    root = ref_for(trial_dir)
    on_disk = {root.child(name).uri for name in root.list()
               if name.startswith("checkpoint_") and root.child(name).is_dir()}
    stored = ((ref_for(reported_uri(path, root), like=root).uri, loss) for path, loss in reported)
    present = [(uri, loss) for uri, loss in stored if uri in on_disk]
    doomed = sorted(on_disk - {uri for uri, _ in present})
    doomed += beyond_retention(present, keep, keep_by)
    for uri in doomed:
        ref_for(uri, like=root).delete_tree()
    return doomed


def in_training_suite(spec: Any) -> Any | None:
    """The spec's eval suite when it scores checkpoints while trials train, else None."""
    from codesweep.config.loader import load_recipe
    from codesweep.config.schema import EvalSuite

    suite = load_recipe(Path(spec.eval_suite), EvalSuite) if spec.eval_suite else None
    return suite if suite is not None and suite.in_training is not None else None


def with_sweep_metric(result: dict[str, Any], metric: str | None, mode: str) -> dict[str, Any]:
    """The result with the sweep metric present: its worst value when its task's score
    failed (Tune errors on a result without its metric; see the module notes)."""
    if not metric or metric in result or not metric.startswith("eval."):
        return result
    task = metric.split(".")[1]
    if result.get(f"eval.{task}.status") != "failed":
        return result
    return {**result, metric: float("-inf") if mode == "max" else float("inf")}


def report_callbacks(spec: Any) -> list[Any]:
    """The trial driver's Train callbacks: `EvalReportCallback` when the spec's eval suite
    declares an in-training slice, else Tune's plain `TuneReportCallback`."""
    from codesweep.evaluation.in_training import load_slice
    from codesweep.storage import ref_for

    suite = in_training_suite(spec)
    if suite is None:
        from ray.tune.integration.ray_train import TuneReportCallback

        return [TuneReportCallback()]
    slice_tasks = load_slice(suite, spec.prepared, suite.in_training.examples,
                             suite.in_training.tasks)
    resources = {"num_cpus": suite.cpus_per_actor, "num_gpus": suite.gpus_per_actor}
    sweep = spec.recipe.sweep
    train = spec.recipe.train
    storage = ref_for(spec.train_dir) if spec.train_dir else None
    return [EvalReportCallback(spec.base_path, slice_tasks, spec.recipe.model.dtype,
                               resources, metric=sweep.metric, mode=sweep.mode,
                               keep=train.keep_checkpoints, keep_by=train.keep_by,
                               storage=storage)]
