"""`sweep.metric: eval.<task>.<metric>`: its mode comes from the metric registry, a metric the
suite's in-training slice does not report is a one-line error at load time (before Ray
starts), and a failed score still reaches Tune with the metric's worst value."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from codesweep.config.loader import load_recipe
from codesweep.config.schema import EvalSuite, SweepConfig
from codesweep.errors import CodesweepError
from codesweep.experiment import in_training_metrics, load_experiment
from codesweep.tune.eval_reporting import with_sweep_metric

TASKS = [{"name": "comp", "dataset": "completion", "max_examples": 8,
          "metrics": ["exact_match", "edit_sim", "wer"]},
         {"name": "he", "benchmark": "humaneval", "k": [1]}]


def write_experiment(tmp_path: Path, sweep: dict, in_training: dict | None) -> Path:
    suite = {"name": "s", "tasks": TASKS, **({"in_training": in_training} if in_training else {})}
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(suite))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({  # a pipeline that builds `completion`
        "name": "p", "sources": [{"path": str(tmp_path)}], "tasks": [{"builder": "completion"}]}))
    recipe = tmp_path / "t.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x", "pipeline": "p.yaml", "eval": "eval.yaml",
                                      "sweep": sweep}))
    return recipe


def load_error(recipe: Path) -> str:
    with pytest.raises(CodesweepError) as caught:
        load_experiment(recipe, [], None, None)
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize(("metric", "mode"), [
    ("val_loss", "min"), ("eval.comp.edit_sim", "max"), ("eval.comp.wer", "min"),
    ("eval.he.pass@1", "max")])
def test_mode_follows_the_metric_registry(metric: str, mode: str) -> None:
    assert SweepConfig(metric=metric).mode == mode


def test_a_contradicting_mode_or_unknown_metric_is_refused(tmp_path: Path) -> None:
    recipe = write_experiment(tmp_path, {"metric": "eval.comp.wer", "mode": "max"},
                              {"examples": 4})
    assert "sweep.mode: max contradicts sweep.metric eval.comp.wer" in load_error(recipe)
    recipe = write_experiment(tmp_path, {"metric": "eval.comp.edit_simm"}, {"examples": 4})
    assert 'unknown metric "edit_simm"' in load_error(recipe)
    recipe = write_experiment(tmp_path, {"metric": "accuracy"}, {"examples": 4})
    assert "neither val_loss nor train_loss nor eval.<task>.<metric>" in load_error(recipe)


def test_metric_of_an_unknown_task_lists_what_the_slice_reports(tmp_path: Path) -> None:
    recipe = write_experiment(tmp_path, {"metric": "eval.compp.edit_sim"}, {"examples": 4})
    message = load_error(recipe)
    assert 'not reported by the in_training slice of eval.yaml (did you mean "eval.comp.' \
        'edit_sim"?)' in message
    assert "available: eval.comp.exact_match, eval.comp.edit_sim, eval.comp.wer, " \
        "eval.he.exact_match" in message and "eval.he.pass@1" in message


def test_metric_of_a_task_outside_the_slice_is_refused(tmp_path: Path) -> None:
    recipe = write_experiment(tmp_path, {"metric": "eval.he.pass@1"},
                              {"tasks": ["comp"], "examples": 4})
    assert "available: eval.comp.exact_match, eval.comp.edit_sim, eval.comp.wer" \
        in load_error(recipe)
    recipe = write_experiment(tmp_path, {"metric": "eval.comp.edit_sim"}, None)
    assert "available: none (declare in_training)" in load_error(recipe)


def test_a_known_metric_loads(tmp_path: Path) -> None:
    recipe = write_experiment(tmp_path, {"metric": "eval.comp.wer"}, {"examples": 4})
    exp = load_experiment(recipe, [], None, None)
    assert exp.recipe.sweep.mode == "min"


def test_slice_settings_are_checked_when_the_suite_loads(tmp_path: Path) -> None:
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "tasks": TASKS,
                                    "in_training": {"tasks": ["comp"], "examples": 9}}))
    with pytest.raises(CodesweepError, match="in_training.examples: 9 is more than task comp's "
                                             "max_examples 8"):
        load_recipe(path, EvalSuite)
    path.write_text(yaml.safe_dump({"name": "s", "tasks": TASKS,
                                    "in_training": {"tasks": ["cmp"]}}))
    with pytest.raises(CodesweepError, match="'cmp' is not a task of this suite"):
        load_recipe(path, EvalSuite)


def test_slice_metric_names_include_pass_at_k() -> None:
    suite = EvalSuite(name="s", tasks=TASKS, in_training={"tasks": ["he"], "examples": 1})
    assert in_training_metrics(suite) == ["eval.he.exact_match", "eval.he.edit_sim",
                                          "eval.he.bleu", "eval.he.pass@1"]


def test_a_failed_score_reaches_tune_with_the_worst_value() -> None:
    failed = {"step": 2, "eval.comp.status": "failed", "eval.comp.reason": "sandbox down"}
    assert with_sweep_metric(failed, "eval.comp.edit_sim", "max")["eval.comp.edit_sim"] \
        == -math.inf
    assert with_sweep_metric(failed, "eval.comp.wer", "min")["eval.comp.wer"] == math.inf
    scored = {"step": 2, "eval.comp.status": "ok", "eval.comp.edit_sim": 40.0}
    assert with_sweep_metric(scored, "eval.comp.edit_sim", "max") == scored
    assert with_sweep_metric(failed, "val_loss", "min") == failed  # Train reports val_loss
