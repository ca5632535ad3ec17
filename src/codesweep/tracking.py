"""MLflow: one parent run per sweep, one child run per trial (and one for the base model).

The driver logs after each stage from the stage's files, so workers need no MLflow access and
a re-run logs into the same runs (found by tags) instead of piling up duplicates.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

PARAM_VALUE_LIMIT = 6000  # MLflow's limit on a param value; longer values are cut
TAG_KIND, TAG_RUN_DIR, TAG_TRIAL = "codesweep.kind", "codesweep.run_dir", "codesweep.trial_id"
TAG_SWEEP_KEY, TAG_PARENT = "codesweep.sweep_key", "mlflow.parentRunId"
ARTIFACTS_DIR = "mlartifacts"  # under the run dir, for a tracking store on local disk


def tracking_uri(run_dir: Path, explicit: str | None = None) -> str:
    """--tracking-uri or recipe, then MLFLOW_TRACKING_URI, else sqlite under the run dir."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"


def artifact_location(uri: str, run_dir: Path) -> str | None:
    """Where a new experiment keeps its artifacts: beside the run for a store on local disk
    (MLflow would pick `./mlruns` under the working directory: inside Ray's job package
    directory under `ray job submit`); a tracking server decides for itself (None)."""
    if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        return (run_dir / ARTIFACTS_DIR).resolve().as_uri()
    return None


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> {'a.b': 'value'} with values cut to MLflow's length limit."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:PARAM_VALUE_LIMIT]
    return flat


class Tracker:
    """Thin wrapper over MlflowClient for the runs of one run directory."""

    def __init__(self, uri: str, experiment: str, run_dir: Path) -> None:
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        existing = self.client.get_experiment_by_name(experiment)
        self.experiment_id = existing.experiment_id if existing else \
            self.client.create_experiment(experiment, artifact_location(uri, run_dir))
        self.run_dir = str(run_dir.resolve())

    def _find(self, kind: str, **tags: str) -> str | None:
        query = f"tags.`{TAG_KIND}` = '{kind}' and tags.`{TAG_RUN_DIR}` = '{self.run_dir}'"
        for key, value in tags.items():
            query += f" and tags.`{key}` = '{value}'"
        runs = self.client.search_runs([self.experiment_id], query, max_results=1)
        return runs[0].info.run_id if runs else None

    def parent(self, name: str, sweep_key: str, tags: dict[str, str]) -> str:
        """The parent run of this sweep (same run dir and sweep key), created on first use:
        a changed recipe is a new sweep and gets a new parent."""
        run_id = self._find("sweep", **{TAG_SWEEP_KEY: sweep_key})
        if run_id:
            return run_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags={
            TAG_KIND: "sweep", TAG_RUN_DIR: self.run_dir, TAG_SWEEP_KEY: sweep_key, **tags})
        return run.info.run_id

    def child(self, parent_id: str, trial_id: str, tags: dict[str, str] | None = None) -> str:
        """A trial's (or the base model's) child run under the parent, created on first use."""
        run_id = self._find("trial", **{TAG_TRIAL: trial_id, TAG_PARENT: parent_id})
        if run_id:  # made while the trial ran, before its end status was known
            for key, value in (tags or {}).items():
                self.client.set_tag(run_id, key, value)
            return run_id
        run = self.client.create_run(self.experiment_id, run_name=trial_id, tags={
            TAG_KIND: "trial", TAG_RUN_DIR: self.run_dir, TAG_TRIAL: trial_id,
            TAG_PARENT: parent_id, **(tags or {})})
        return run.info.run_id

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Log params that are not there yet (MLflow refuses to change a logged param)."""
        from mlflow.entities import Param

        existing = self.client.get_run(run_id).data.params
        new = [Param(k, v) for k, v in flatten(params).items() if k not in existing]
        for start in range(0, len(new), 100):
            self.client.log_batch(run_id, params=new[start:start + 100])

    def log_metrics(self, run_id: str, rows: list[dict[str, Any]], step_key: str = "step") -> None:
        """Log metric rows (one dict per step) with their steps; NaN and None are skipped."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, int(row.get(step_key, 0) or 0))
                   for row in rows for key, value in row.items()
                   if key != step_key and isinstance(value, (int, float)) and value == value]
        for start in range(0, len(metrics), 500):
            self.client.log_batch(run_id, metrics=metrics[start:start + 500])

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        """Mark a run finished (or FAILED)."""
        self.client.set_terminated(run_id, status=status)

    def log_artifact(self, run_id: str, path: Path) -> None:
        """Attach a file (the resolved recipe, the leaderboard) to a run."""
        self.client.log_artifact(run_id, str(path))

    def log_artifacts(self, run_id: str, directory: Path, under: str) -> None:
        """Attach a directory's files (an adapter, the report) under `under/`."""
        self.client.log_artifacts(run_id, str(directory), under)

def runs_table_url(uri: str, experiment: str, ui: str = "http://127.0.0.1:5000") -> str:
    """Where `mlflow ui` shows this experiment's runs table. MLflow 3 opens experiments on
    its GenAI overview, which lists no training runs; `workflowType` picks the runs table."""
    from mlflow import MlflowClient

    found = MlflowClient(tracking_uri=uri).get_experiment_by_name(experiment)
    where = f"experiments/{found.experiment_id}/runs" if found else "experiments"
    return f"{ui}/#/{where}?workflowType=machine_learning"


def live_trial_logger(uri: str, experiment: str, run_dir: Path, parent_name: str,
                      sweep_key: str) -> Any:
    """A Tune callback that gives each trial its MLflow child run while the sweep runs."""
    from ray.tune import Callback

    class LiveTrialLogger(Callback):
        """Child run at trial start, metrics at their training steps as reported, and the
        run's end status (FAILED for an errored trial, KILLED for one left running)."""

        def setup(self, stop: Any = None, num_samples: Any = None,
                  total_num_samples: Any = None, **info: Any) -> None:
            self.tracker = Tracker(uri, experiment, run_dir)
            self.parent = self.tracker.parent(parent_name, sweep_key, {})
            self.children: dict[str, str] = {}

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            child = self.tracker.child(self.parent, trial.trial_id)
            self.children[trial.trial_id] = child
            self.tracker.log_params(child, dict(trial.config))

        def on_trial_result(self, iteration: int, trials: list, trial: Any,
                            result: dict[str, Any], **info: Any) -> None:
            if trial.trial_id in self.children:
                self.tracker.log_metrics(self.children[trial.trial_id], [finite(result)])

        def on_trial_complete(self, iteration: int, trials: list, trial: Any,
                              **info: Any) -> None:
            self._end(trial, "FINISHED")

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._end(trial, "FAILED")

        def on_experiment_end(self, trials: list, **info: Any) -> None:
            for trial in trials:
                self._end(trial, "KILLED")  # still open: the sweep ended without it

        def _end(self, trial: Any, status: str) -> None:
            child = self.children.pop(trial.trial_id, None)
            if child:
                self.tracker.finish(child, status)

    return LiveTrialLogger()


def finite(result: dict[str, Any]) -> dict[str, Any]:
    """A Tune result's finite numbers (a failed score's ±inf sentinel is not a metric),
    without the bookkeeping Tune adds to every result (pid, timestamp, iteration counters)."""
    import math

    from ray.tune.result import AUTO_RESULT_KEYS

    return {key: value for key, value in result.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and key not in AUTO_RESULT_KEYS}
