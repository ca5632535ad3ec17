"""A tuning recipe's references are checked when it is loaded: before Ray starts or anything
is written, with one line naming the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from drill_support import tiny_recipes

from codesweep.errors import CodesweepError
from codesweep.experiment import load_experiment


def workspace(root: Path, **edits: dict) -> Path:
    """The drill's three recipes under `root`, each updated with `edits[<stem>]`."""
    for name, data in tiny_recipes(root / "corpus", 2, 4, 2).items():
        data.update(edits.get(Path(name).stem, {}))
        (root / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return root / "tuning.yaml"


def load(recipe: Path) -> None:
    load_experiment(recipe, [], recipe.parent / "run", recipe.parent / "cache")


def test_good_references_load_and_nothing_is_written(tmp_path: Path) -> None:
    load(workspace(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.yaml", "pipeline.yaml",
                                                          "tuning.yaml"]


def test_missing_pipeline_file_is_named(tmp_path: Path) -> None:
    recipe = workspace(tmp_path, tuning={"pipeline": "nope.yaml"})
    with pytest.raises(CodesweepError, match=r"tuning.yaml: pipeline: nope.yaml not found"):
        load(recipe)


def test_missing_eval_file_is_named(tmp_path: Path) -> None:
    recipe = workspace(tmp_path, tuning={"eval": "evl.yaml"})
    with pytest.raises(CodesweepError, match=r"tuning.yaml: eval: evl.yaml not found"):
        load(recipe)


def test_unknown_task_builder_is_named_with_a_suggestion(tmp_path: Path) -> None:
    recipe = workspace(tmp_path, pipeline={"tasks": [{"builder": "completon"}]})
    with pytest.raises(CodesweepError, match=r'pipeline.yaml: tasks\[0\].builder: unknown task '
                                             r'builder "completon".*completion'):
        load(recipe)


def test_misspelt_metric_is_named(tmp_path: Path) -> None:
    suite = tiny_recipes(tmp_path, 2, 4, 2)["eval.yaml"]
    suite["tasks"][0]["metrics"] = ["exact_mach"]
    recipe = workspace(tmp_path, eval={"tasks": suite["tasks"]})
    with pytest.raises(CodesweepError, match=r"eval.yaml: tasks\[0\] \(line_completion\)"
                                             r'.metrics: unknown metric "exact_mach"'):
        load(recipe)


def test_dataset_the_pipeline_does_not_build_is_named(tmp_path: Path) -> None:
    suite = tiny_recipes(tmp_path, 2, 4, 2)["eval.yaml"]
    suite["tasks"][0]["dataset"] = "fim"
    recipe = workspace(tmp_path, eval={"tasks": suite["tasks"]})
    with pytest.raises(CodesweepError, match=r"dataset: fim is not a task of the pipeline "
                                             r"\(its tasks: completion\)"):
        load(recipe)


def test_override_of_a_searched_key_needs_fix_searched(tmp_path: Path) -> None:
    recipe = workspace(tmp_path)
    with pytest.raises(CodesweepError, match=r"optim.lr"):
        load_experiment(recipe, ["optim.lr=3e-4"], None, None)
    exp = load_experiment(recipe, ["optim.lr=3e-4"], None, None, drop_searched=True)
    assert "optim.lr" not in exp.recipe.sweep.space and exp.recipe.optim.lr == 3e-4
