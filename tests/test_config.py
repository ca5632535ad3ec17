"""Recipes: extends chains, dotted overrides, and one-line errors for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from codesweep.cli import app
from codesweep.config.loader import apply_overrides, load_recipe, load_yaml_tree, parse_override
from codesweep.config.schema import EvalSuite, TuningRecipe
from codesweep.errors import CodesweepError

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.fixture()
def chain(tmp_path: Path) -> Path:
    """grandparent <- parent <- child, each overriding part of the one above."""
    write(tmp_path / "default.yaml", {"name": "default", "pipeline": "p.yaml",
                                      "lora": {"r": 8, "alpha": 16},
                                      "optim": {"lr": 1e-3, "warmup_steps": 5}})
    write(tmp_path / "default-b8.yaml", {"extends": "default.yaml", "name": "default-b8",
                                         "data": {"micro_batch_size": 8}, "lora": {"r": 4}})
    sub = tmp_path / "sub"
    sub.mkdir()
    return write(sub / "child.yaml", {"extends": "../default-b8.yaml", "optim": {"lr": 5e-4}})


def test_extends_merges_three_levels_child_wins(chain: Path) -> None:
    recipe = load_recipe(chain, TuningRecipe)
    assert recipe.name == "default-b8"
    assert (recipe.lora.r, recipe.lora.alpha) == (4, 16)
    assert (recipe.optim.lr, recipe.optim.warmup_steps) == (5e-4, 5)
    assert recipe.data.micro_batch_size == 8


def test_overrides_are_typed_and_applied_last(chain: Path) -> None:
    recipe = load_recipe(chain, TuningRecipe, ["lora.r=16", "optim.lr=3e-4",
                                              "lora.target_modules=[q_proj, v_proj]"])
    assert recipe.lora.r == 16
    assert recipe.optim.lr == pytest.approx(3e-4)
    assert recipe.lora.target_modules == ["q_proj", "v_proj"]


def test_parse_override_values() -> None:
    assert parse_override("a.b=3e-4") == (["a", "b"], 3e-4)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=hello") == (["a"], "hello")


@pytest.mark.parametrize("bad", ["noequals", "=3", "a..b=1"])
def test_malformed_override_is_one_line_error(bad: str) -> None:
    with pytest.raises(CodesweepError, match="expected KEY.PATH=VALUE"):
        apply_overrides({}, [bad])


def test_override_into_a_value_is_rejected() -> None:
    with pytest.raises(CodesweepError, match="lora.r is a value, not a section"):
        apply_overrides({"lora": {"r": 8}}, ["lora.r.x=1"])


ERRORS = [
    ({"lora": {"rr": 4}}, r"t\.yaml: lora\.rr: unknown key \(did you mean \"r\"\?\); allowed"),
    ({"lorra": {}}, r"lorra: unknown key \(did you mean \"lora\"\?\)"),
    ({"lora": {"r": "big"}}, r"lora\.r: Input should be a valid integer.*got 'big'"),
    ({"lora": {"r": 0}}, r"lora\.r: Input should be greater than or equal to 1"),
    ({"optim": {"schedule": "cosin"}}, r"optim\.schedule: .*'cosine'.*\(did you mean \"cosine\""),
    ({"sweep": {"space": {"lora.alpah": {"choice": [1]}}}},
     r"sweep\.space: unknown key .lora\.alpah. \(did you mean \"alpha\"\?\)"),
    ({"sweep": {"space": {"lorax.r": {"choice": [1]}}}}, r"must start with one of model, lora"),
    ({"sweep": {"space": {"lora.r": {"choice": [1], "int": [1, 2]}}}},
     r"sweep\.space\.lora\.r: give exactly one of choice"),
]


@pytest.mark.parametrize(("extra", "pattern"), ERRORS)
def test_validation_errors_name_file_path_and_allowed(tmp_path: Path, extra: dict,
                                                      pattern: str) -> None:
    path = write(tmp_path / "t.yaml", {"name": "x", "pipeline": "p.yaml", **extra})
    with pytest.raises(CodesweepError, match=pattern) as caught:
        load_recipe(path, TuningRecipe)
    assert "\n" not in str(caught.value)


def test_missing_required_field(tmp_path: Path) -> None:
    path = write(tmp_path / "t.yaml", {"pipeline": "p.yaml"})
    with pytest.raises(CodesweepError, match=r"t\.yaml: name: Field required"):
        load_recipe(path, TuningRecipe)


def test_extends_cycle_and_missing_parent(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", {"extends": "b.yaml"})
    write(tmp_path / "b.yaml", {"extends": "a.yaml"})
    with pytest.raises(CodesweepError, match="extends: forms a cycle"):
        load_yaml_tree(tmp_path / "a.yaml")
    write(tmp_path / "c.yaml", {"extends": "nope.yaml"})
    with pytest.raises(CodesweepError, match="parent recipe nope.yaml not found"):
        load_yaml_tree(tmp_path / "c.yaml")


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CodesweepError, match="recipe file not found"):
        load_yaml_tree(tmp_path / "absent.yaml")
    bad = write(tmp_path / "bad.yaml", "name: [unclosed\n")
    with pytest.raises(CodesweepError, match=r"bad\.yaml: line \d+ invalid YAML"):
        load_yaml_tree(bad)
    scalar = write(tmp_path / "scalar.yaml", "just a string\n")
    with pytest.raises(CodesweepError, match="must be a mapping"):
        load_yaml_tree(scalar)


def test_shipped_recipes_validate() -> None:
    for path in sorted((REPO / "tuning").glob("*.yaml")):
        load_recipe(path, TuningRecipe)
    for path in sorted((REPO / "eval").glob("*.yaml")):
        load_recipe(path, EvalSuite)


def test_cli_prints_one_line_error_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path / "t.yaml", {"name": "x", "pipeline": "p.yaml", "lora": {"rr": 1}})
    result = CliRunner().invoke(app, ["sweep", str(path)])
    assert result.exit_code == 2
    output = result.output.strip()
    assert "Traceback" not in output
    assert 'lora.rr: unknown key (did you mean "r"?)' in " ".join(output.split())


def test_override_into_list_items() -> None:
    data = {"sources": [{"path": "a"}, {"path": "b"}]}
    assert apply_overrides(data, ["sources.1.path=c"])["sources"][1] == {"path": "c"}
    assert apply_overrides(data, ["sources.0=x"])["sources"][0] == "x"
    with pytest.raises(CodesweepError, match=r"'2' is not an index of a list of 2 items"):
        apply_overrides(data, ["sources.2.path=c"])


def test_override_of_a_key_the_quickstart_searches_is_refused() -> None:
    quickstart = REPO / "tuning" / "quickstart.yaml"
    with pytest.raises(CodesweepError, match=r"override 'lora\.r=16': sweep\.space searches "
                                             r"lora\.r, so every trial would overwrite it"):
        load_recipe(quickstart, TuningRecipe, ["lora.r=16", "optim.lr=3e-4"])
    recipe = load_recipe(quickstart, TuningRecipe, ["lora.r=16", "optim.lr=3e-4"],
                         drop_searched=True)
    assert (recipe.lora.r, recipe.optim.lr) == (16, 3e-4)
    assert list(recipe.sweep.space) == ["data.window"]
    assert recipe.sweep.points_to_evaluate == [{"data.window": 128}]


def test_extends_replaces_search_domains_but_merges_other_mappings(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", {"name": "b", "pipeline": "p.yaml", "lora": {"r": 4},
                                   "sweep": {"space": {"optim.lr": {"loguniform": [1e-4, 1e-3]}},
                                             "num_trials": 4}})
    child = write(tmp_path / "child.yaml", {
        "extends": "base.yaml", "lora": {"alpha": 4},
        "sweep": {"space": {"optim.lr": {"choice": [1e-4]}}}})
    recipe = load_recipe(child, TuningRecipe)
    assert (recipe.lora.r, recipe.lora.alpha, recipe.sweep.num_trials) == (4, 4, 4)
    assert (recipe.sweep.space["optim.lr"].choice, recipe.sweep.space["optim.lr"].loguniform) \
        == ([1e-4], None)


@pytest.mark.parametrize("section", ["tuning", "pipeline", "eval_task"])
def test_names_that_become_directories_share_one_rule(section: str) -> None:
    from codesweep.config.loader import validate
    from codesweep.config.pipeline import PipelineConfig
    from codesweep.config.schema import EvalTask

    model, data = {
        "tuning": (TuningRecipe, {"pipeline": "p.yaml"}),
        "pipeline": (PipelineConfig, {"sources": [{"path": "."}]}),
        "eval_task": (EvalTask, {"dataset": "fim"}),
    }[section]
    with pytest.raises(CodesweepError, match=r"r\.yaml: name: .*use letters, digits"):
        validate(model, {**data, "name": "../escape"}, "r.yaml")
    assert validate(model, {**data, "name": "ok_1.2-x"}, "r.yaml").name == "ok_1.2-x"
