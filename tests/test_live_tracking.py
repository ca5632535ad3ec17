"""Live MLflow tracking of a sweep: a trial's child run exists from its start, receives each
report's metrics at its training step as it comes, and ends FINISHED, FAILED or KILLED."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

from mlflow import MlflowClient

from codesweep.tracking import TAG_TRIAL, live_trial_logger


def test_trials_are_tracked_while_they_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logger = live_trial_logger(uri, "e", tmp_path, "sweep", "key")
    logger.setup()
    done, failed, left = (SimpleNamespace(trial_id=name, config={"optim.lr": 0.01})
                          for name in ("t_done", "t_failed", "t_left"))
    client = MlflowClient(tracking_uri=uri)
    for trial in (done, failed, left):
        logger.on_trial_start(0, [], trial)
    runs = {r.data.tags[TAG_TRIAL]: r for r in client.search_runs(
        [client.get_experiment_by_name("e").experiment_id], "tags.`codesweep.kind` = 'trial'")}
    assert set(runs) == {"t_done", "t_failed", "t_left"}
    assert runs["t_done"].info.status == "RUNNING"  # visible before any result
    assert runs["t_done"].data.params == {"optim.lr": "0.01"}
    tune_bookkeeping = {"pid": 4242, "timestamp": 1767225600, "training_iteration": 1,
                        "time_total_s": 3.5, "time_this_iter_s": 1.2,
                        "iterations_since_restore": 1, "time_since_restore": 3.5}
    for step, score in ((2, 30.0), (4, 45.0)):
        logger.on_trial_result(0, [], done, {"step": step, "val_loss": 3.0 / step,
                                             "eval.comp.edit_sim": score,
                                             "eval.comp.status": "ok", **tune_bookkeeping})
    logger.on_trial_result(0, [], failed, {"step": 2, "eval.comp.edit_sim": -math.inf,
                                           "eval.comp.status": "failed"})
    history = client.get_metric_history(runs["t_done"].info.run_id, "eval.comp.edit_sim")
    assert [(m.step, m.value) for m in history] == [(2, 30.0), (4, 45.0)]
    assert client.get_metric_history(runs["t_failed"].info.run_id, "eval.comp.edit_sim") == []
    logged = client.get_run(runs["t_done"].info.run_id).data.metrics
    assert set(logged) == {"val_loss", "eval.comp.edit_sim"}  # the step is the x axis; no pid
    logger.on_trial_complete(0, [], done)
    logger.on_trial_error(0, [], failed)
    logger.on_experiment_end([done, failed, left])
    status = {name: client.get_run(run.info.run_id).info.status for name, run in runs.items()}
    assert status == {"t_done": "FINISHED", "t_failed": "FAILED", "t_left": "KILLED"}
    parent = client.get_run(runs["t_done"].data.tags["mlflow.parentRunId"])
    assert parent.data.tags["codesweep.kind"] == "sweep"
