"""Recipes are checked whole before anything starts: search domains (bounds, and every value
against the field it is written into), overrides of searched keys, unreadable files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from codesweep.config.loader import load_recipe, parse_override
from codesweep.config.schema import TuningRecipe
from codesweep.errors import CodesweepError

SRC = Path(__file__).resolve().parents[1] / "src"


def recipe_file(tmp_path: Path, name: str = "t.yaml", **sections: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"name": "x", "pipeline": "p.yaml", **sections}))
    return path


def load_error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(CodesweepError) as caught:
        load_recipe(path, TuningRecipe, overrides)
    message = str(caught.value)
    assert "\n" not in message
    return message


BAD_DOMAINS = [
    ({"optim.lr": {"uniform": [1e-3, 1e-4]}}, r"sweep\.space\.optim\.lr: uniform: .* low < high"),
    ({"optim.lr": {"uniform": [1e-3, 1e-3]}}, r"uniform: .* needs low < high"),
    ({"optim.lr": {"loguniform": [0, 1e-3]}}, r"loguniform: .* needs low > 0"),
    ({"optim.lr": {"loguniform": [-1e-3, 1e-3]}}, r"loguniform: .* needs low > 0"),
    ({"optim.lr": {"loguniform": [1e-2, 1e-3]}}, r"loguniform: .* needs low < high"),
    ({"lora.r": {"int": [9, 8]}}, r"sweep\.space\.lora\.r: int: \[9, 8\] needs low <= high"),
    ({"lora.r": {"choice": []}}, r"sweep\.space\.lora\.r: choice: \[\] has nothing to choose"),
]


@pytest.mark.parametrize(("space", "pattern"), BAD_DOMAINS)
def test_domain_bounds_are_checked(tmp_path: Path, space: dict, pattern: str) -> None:
    path = recipe_file(tmp_path, sweep={"space": space})
    assert pytest.raises(CodesweepError, load_recipe, path, TuningRecipe).match(pattern)


VALUES_THE_FIELD_REJECTS = [
    ({"optim.lr": {"choice": [1e-3, -0.1]}},
     r"t\.yaml: sweep\.space\.optim\.lr: choice value -0\.1 is not allowed: optim\.lr: "
     r"Input should be greater than 0"),
    ({"lora.r": {"int": [0, 8]}},
     r"sweep\.space\.lora\.r: int value 0 is not allowed: lora\.r: .*greater than or equal to 1"),
    ({"lora.dropout": {"uniform": [0.0, 1.5]}},
     r"sweep\.space\.lora\.dropout: uniform value 1\.5 is not allowed: lora\.dropout: .*less"),
    ({"lora.r": {"uniform": [4, 16]}},
     r"sweep\.space\.lora\.r: uniform value [\d.]+ is not allowed: lora\.r: .*valid integer"),
    ({"optim.schedule": {"choice": ["cosine", "cosin"]}},
     r"sweep\.space\.optim\.schedule: choice value 'cosin' is not allowed: optim\.schedule"),
]


@pytest.mark.parametrize(("space", "pattern"), VALUES_THE_FIELD_REJECTS)
def test_domain_values_are_validated_against_the_target_field(tmp_path: Path, space: dict,
                                                              pattern: str) -> None:
    path = recipe_file(tmp_path, sweep={"space": space})
    assert pytest.raises(CodesweepError, load_recipe, path, TuningRecipe).match(pattern)


def test_domain_values_meet_whole_recipe_rules(tmp_path: Path) -> None:
    # effective_batch_size must stay a multiple of micro_batch_size x workers in every trial
    path = recipe_file(tmp_path, data={"effective_batch_size": 16},
                       sweep={"space": {"data.micro_batch_size": {"choice": [4, 3]}}})
    assert "choice value 3 is not allowed: data.effective_batch_size=16 must be a multiple" \
        in load_error(path)


def test_valid_domains_load(tmp_path: Path) -> None:
    space = {"optim.lr": {"loguniform": [1e-4, 1e-2]}, "lora.r": {"int": [1, 8]},
             "lora.dropout": {"uniform": [0.0, 0.2]},
             "lora.target_modules": {"choice": [["q_proj"], "all-linear"]}}
    recipe = load_recipe(recipe_file(tmp_path, sweep={"space": space}), TuningRecipe)
    assert recipe.sweep.space["lora.r"].integer == (1, 8)


def test_unknown_space_key_suggests_the_field(tmp_path: Path) -> None:
    path = recipe_file(tmp_path, sweep={"space": {"optim.lrr": {"choice": [1e-3]}}})
    assert 'unknown key \'optim.lrr\' (did you mean "lr"?)' in load_error(path)


def test_points_to_evaluate_name_searched_keys(tmp_path: Path) -> None:
    path = recipe_file(tmp_path, sweep={"space": {"lora.r": {"choice": [4, 8]}},
                                        "points_to_evaluate": [{"lora.rr": 4}]})
    assert ("sweep.points_to_evaluate.0: 'lora.rr' is not a key of sweep.space "
            '(did you mean "lora.r"?)') in load_error(path)


def test_points_to_evaluate_values_are_validated(tmp_path: Path) -> None:
    path = recipe_file(tmp_path, sweep={"space": {"lora.r": {"choice": [4, 8]}},
                                        "points_to_evaluate": [{"lora.r": 4}, {"lora.r": 0}]})
    assert ("sweep.points_to_evaluate.1: lora.r 0 is not allowed: lora.r: Input should be "
            "greater than or equal to 1") in load_error(path)


def test_child_search_domain_replaces_the_parent_domain(tmp_path: Path) -> None:
    recipe_file(tmp_path, "parent.yaml",
                sweep={"space": {"optim.lr": {"loguniform": [1e-4, 1e-2]},
                                 "lora.r": {"choice": [4, 8]}}})
    child = tmp_path / "child.yaml"
    child.write_text(yaml.safe_dump({"extends": "parent.yaml",
                                     "sweep": {"space": {"optim.lr": {"uniform": [1e-4, 2e-4]}}}}))
    space = load_recipe(child, TuningRecipe).sweep.space
    assert (space["optim.lr"].uniform, space["optim.lr"].loguniform) == ((1e-4, 2e-4), None)
    assert space["lora.r"].choice == [4, 8]  # the parent's other domains stay


@pytest.mark.parametrize("override", [
    'sweep.space["optim.lr"].uniform=[1e-4, 2e-4]',
    "sweep.space['optim.lr'].uniform=[1e-4, 2e-4]",
    "sweep.space.optim.lr.uniform=[1e-4, 2e-4]",
    'sweep.space["optim.lr"]={uniform: [1e-4, 2e-4]}',
    "sweep.space.optim.lr={uniform: [1e-4, 2e-4]}",
])
def test_override_addresses_dotted_space_keys(tmp_path: Path, override: str) -> None:
    path = recipe_file(tmp_path, sweep={"space": {"optim.lr": {"loguniform": [1e-4, 1e-2]}}})
    space = load_recipe(path, TuningRecipe, [override]).sweep.space
    assert list(space) == ["optim.lr"]
    assert (space["optim.lr"].uniform, space["optim.lr"].loguniform) == ((1e-4, 2e-4), None)


def test_bracketed_key_parts() -> None:
    assert parse_override('a["b.c"].d=1') == (["a", "b.c", "d"], 1)
    assert parse_override("a['b=c']=x") == (["a", "b=c"], "x")
    for bad in ['a["b.c".d=1', "a[b]=1", 'a[""]=1', "a.=1"]:
        assert pytest.raises(CodesweepError, parse_override, bad).match("expected KEY.PATH=VALUE")


QUICKSTART_LIKE = {"lora": {"r": 8}, "optim": {"lr": 2e-3},
                   "sweep": {"space": {"lora.r": {"choice": [16, 32]},
                                       "optim.lr": {"loguniform": [2e-3, 1e-2]}},
                             "points_to_evaluate": [{"lora.r": 32, "optim.lr": 5e-3}]}}


@pytest.mark.parametrize("override", ["lora.r=16", "lora={r: 16}"])
def test_override_of_a_searched_key_is_an_error(tmp_path: Path, override: str) -> None:
    path = recipe_file(tmp_path, **QUICKSTART_LIKE)
    message = load_error(path, [override])
    assert f"override {override!r}: sweep.space searches lora.r" in message
    assert "--fix-searched" in message


def test_drop_searched_fixes_the_key_and_leaves_the_rest_searched(tmp_path: Path) -> None:
    path = recipe_file(tmp_path, **QUICKSTART_LIKE)
    recipe = load_recipe(path, TuningRecipe, ["lora.r=16"], drop_searched=True)
    assert recipe.lora.r == 16
    assert list(recipe.sweep.space) == ["optim.lr"]
    assert recipe.sweep.points_to_evaluate == [{"optim.lr": 5e-3}]


def test_override_of_an_unsearched_key_is_fine(tmp_path: Path) -> None:
    recipe = load_recipe(recipe_file(tmp_path, **QUICKSTART_LIKE), TuningRecipe,
                         ["lora.alpha=4", "optim.warmup_steps=0"])
    assert (recipe.lora.alpha, recipe.optim.warmup_steps) == (4, 0)


def test_non_utf8_recipe_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: x\npipeline: p.yaml\n# caf\xe9\n".encode("latin-1"))
    assert load_error(path) == (f"{path}: line 3: not UTF-8 text (byte 0xe9); save the recipe "
                                "as UTF-8")


def without_file_access_override(command: list[str]) -> list[str]:
    """`command` run without the capabilities that let root read any file."""
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *command]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to drop the read-anything capability")
def test_unreadable_recipe_is_one_line_error(tmp_path: Path) -> None:
    path = recipe_file(tmp_path)
    path.chmod(0o000)
    script = ("import sys\nfrom codesweep.config.loader import load_recipe\n"
              "from codesweep.config.schema import TuningRecipe\n"
              "from codesweep.errors import CodesweepError\n"
              "try:\n    load_recipe(sys.argv[1], TuningRecipe)\n"
              "except CodesweepError as exc:\n    print(exc)\n")
    command = without_file_access_override([sys.executable, "-c", script, str(path)])
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(SRC)},
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == f"{path}: cannot read the recipe: Permission denied", done.stderr
