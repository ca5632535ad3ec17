"""MLflow as a researcher opens it: children carry every resolved parameter, statuses are
right, a changed sweep gets its own parent, adapters and the report are artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from codesweep.config.schema import TuningRecipe
from codesweep.experiment import log_eval, log_report, log_trials
from codesweep.records import EvaluationRecord, PreparedDataRef, RunRecord, TrialResult
from codesweep.rundir import write_recipe


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, RunRecord, TuningRecipe, list[TrialResult]]:
    return log_a_sweep(tmp_path)


def log_a_sweep(tmp_path: Path) -> tuple[Path, RunRecord, TuningRecipe, list[TrialResult]]:
    """Two trials (one with an adapter) and their scores, logged to a sqlite store."""
    run_dir = tmp_path / "run"
    recipe = TuningRecipe.model_validate({
        "name": "t", "pipeline": "p.yaml", "lora": {"alpha": 32},
        "train": {"max_steps": 300, "report_every": 60}})
    write_recipe(run_dir, recipe)
    adapter = run_dir / "train" / "a" / "checkpoint_300"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    trials = [
        TrialResult(trial_id="a", params={"lora.r": 16}, status="done",
                    final={"step": 300}, history=[{"step": 300, "val_loss": 1.5}],
                    checkpoint=str(adapter)),
        TrialResult(trial_id="b", params={"lora.r": 32}, status="done",
                    final={"step": 120}, history=[{"step": 120, "val_loss": 2.5}])]
    run = RunRecord(name="t", recipe="t.yaml", prepared=PreparedDataRef(root="/d", key="k"),
                    base_path="/base", sweep_key="key1",
                    tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="t",
                    codesweep_version="test")
    log_trials(run_dir, run, recipe, trials)
    log_eval(run_dir, run, [EvaluationRecord(checkpoint=c, task="lc", n=4,
                                             scores={"edit_sim": 40.0}) for c in ("base", "a")])
    return run_dir, run, recipe, trials


def _children(client: MlflowClient, run: RunRecord) -> dict[str, object]:
    experiment = client.get_experiment_by_name("t").experiment_id
    runs = client.search_runs([experiment], "tags.`codesweep.kind` = 'trial'")
    return {r.info.run_name: r for r in runs}


def test_children_hold_fixed_and_searched_params(logged) -> None:
    _, run, _, _ = logged
    children = _children(MlflowClient(run.tracking_uri), run)
    params = children["a"].data.params
    assert params["lora.r"] == "16" and params["lora.alpha"] == "32"
    assert params["train.max_steps"] == "300"


def test_parent_shows_the_search_domain_of_searched_keys(tmp_path: Path) -> None:
    """The parent's `optim.lr` is what the sweep searched, not the default no trial used."""
    from codesweep.experiment import sweep_params

    recipe = TuningRecipe.model_validate({
        "name": "t", "pipeline": "p.yaml",
        "sweep": {"space": {"optim.lr": {"loguniform": [0.002, 0.01]},
                            "lora.r": {"choice": [16, 32]}}}})
    params = sweep_params(recipe)
    assert params["optim.lr"] == "searched: loguniform [0.002, 0.01]"
    assert params["lora.r"] == "searched: choice [16, 32]"
    assert params["lora.alpha"] == str(recipe.lora.alpha)  # fixed keys keep their value


def test_statuses_base_finished_and_stopped_trial_tagged(logged) -> None:
    _, run, _, _ = logged
    children = _children(MlflowClient(run.tracking_uri), run)
    assert children["base"].info.status == "FINISHED"
    assert children["base"].data.params["base_model"] == "/base"  # its row says which model
    assert children["a"].data.params["base_model"] == "/base"  # the column trials share
    assert children["b"].data.tags["codesweep.stopped_early"] == "true"
    assert children["b"].data.tags["status"] == "stopped early at 120"
    assert children["a"].data.tags["codesweep.stopped_early"] == "false"


def test_changed_sweep_gets_a_new_parent(logged) -> None:
    run_dir, run, recipe, trials = logged
    changed = run.model_copy(update={"sweep_key": "key2"})
    log_trials(run_dir, changed, recipe, trials)
    client = MlflowClient(run.tracking_uri)
    experiment = client.get_experiment_by_name("t").experiment_id
    parents = client.search_runs([experiment], "tags.`codesweep.kind` = 'sweep'")
    assert len(parents) == 2
    for parent in parents:
        kids = client.search_runs(
            [experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        assert sorted(k.info.run_name for k in kids) in (["a", "b"], ["a", "b", "base"])


def test_adapter_and_report_are_artifacts(logged) -> None:
    run_dir, run, _, _ = logged
    (run_dir / "report").mkdir()
    (run_dir / "report" / "leaderboard.md").write_text("# Leaderboard\n")
    log_report(run_dir, run)
    client = MlflowClient(run.tracking_uri)
    children = _children(client, run)
    assert [f.path for f in client.list_artifacts(children["a"].info.run_id, "adapter")] == [
        "adapter/adapter_config.json"]
    parent_id = children["a"].data.tags["mlflow.parentRunId"]
    assert "report/leaderboard.md" in [f.path for f in client.list_artifacts(parent_id,
                                                                             "report")]


def test_artifacts_stay_beside_the_run_not_in_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `ray job submit` the working directory is Ray's package directory: MLflow's
    default `./mlruns` would put the adapters there, to be evicted with it."""
    elsewhere = tmp_path / "job_package"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run_dir, run, _, _ = log_a_sweep(tmp_path)
    assert list(elsewhere.iterdir()) == []
    client = MlflowClient(run.tracking_uri)
    trial = _children(client, run)["a"]
    assert trial.info.artifact_uri.startswith((run_dir / "mlartifacts").as_uri())
    assert list((run_dir / "mlartifacts").rglob("adapter_config.json"))


def test_a_child_made_while_its_trial_ran_gets_its_end_tags(tmp_path: Path) -> None:
    """In a real sweep the live logger makes each child at trial start; logging the finished
    sweep must still tag it (status, stopped early), not skip the tags of a found run."""
    from types import SimpleNamespace

    from codesweep.tracking import live_trial_logger

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    live = live_trial_logger(uri, "t", tmp_path / "run", "t", "key1")
    live.setup()
    live.on_trial_start(0, [], SimpleNamespace(trial_id="b", config={"lora.r": 32}))
    _, run, _, _ = log_a_sweep(tmp_path)
    children = _children(MlflowClient(run.tracking_uri), run)
    assert children["b"].data.tags["codesweep.stopped_early"] == "true"
    assert children["b"].data.tags["status"] == "stopped early at 120"


def test_runs_table_url_names_the_experiment_and_the_training_view(logged) -> None:
    from codesweep.tracking import runs_table_url

    _, run, _, _ = logged
    experiment_id = MlflowClient(run.tracking_uri).get_experiment_by_name("t").experiment_id
    assert runs_table_url(run.tracking_uri, "t") == (
        f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs?workflowType=machine_learning")
