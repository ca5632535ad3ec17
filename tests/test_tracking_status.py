"""MLflow run statuses: trials cut short by an interrupt are KILLED (never FINISHED), the
interrupted sweep's parent too, and the base model's run finishes once it is evaluated."""

from __future__ import annotations

from pathlib import Path

from drill_support import tiny_recipes

from codesweep import __version__
from codesweep.config.schema import TuningRecipe
from codesweep.experiment import log_eval, log_trials
from codesweep.records import EvaluationRecord, PreparedDataRef, RunRecord, TrialResult


def run_record(run_dir: Path) -> RunRecord:
    return RunRecord(name="drill", recipe="tuning.yaml", base_path="base",
                     prepared=PreparedDataRef(root=str(run_dir), key="k"), sweep_key="s",
                     tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}", experiment="drill",
                     codesweep_version=__version__)


def trial(trial_id: str, status: str) -> TrialResult:
    return TrialResult(trial_id=trial_id, params={}, status=status, final={},
                       history=[{"step": 2, "train_loss": 1.0}])


def statuses(run: RunRecord) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(run.tracking_uri)
    experiment = client.get_experiment_by_name(run.experiment)
    return {r.info.run_name: r.info.status for r in client.search_runs([experiment.experiment_id])}


def test_interrupted_sweep_marks_unfinished_trials_killed(tmp_path: Path) -> None:
    run = run_record(tmp_path)
    (tmp_path / "recipe.yaml").write_text("name: drill\n")
    recipe = TuningRecipe.model_validate(tiny_recipes(tmp_path, 2, 4, 2)["tuning.yaml"])
    log_trials(tmp_path, run, recipe, [trial("a", "done"), trial("b", "unfinished"),
                                       trial("c", "error")], parent_status="KILLED")
    assert statuses(run) == {"drill": "KILLED", "a": "FINISHED", "b": "KILLED", "c": "FAILED"}
    log_eval(tmp_path, run, [EvaluationRecord(checkpoint="base", task="t", n=1,
                                              scores={"exact_match": 1.0})])
    assert statuses(run)["base"] == "FINISHED"
