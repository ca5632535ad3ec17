"""Every tuning recipe validates against the schema and names pipelines/suites that load."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesweep.config.loader import load_recipe
from codesweep.config.schema import TuningRecipe

TUNING = Path(__file__).resolve().parents[1] / "tuning"
RECIPES = sorted(TUNING.glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_validates_and_opens_with_its_command(path: Path) -> None:
    recipe = load_recipe(path, TuningRecipe)
    header = path.read_text().split("\n\n")[0]
    assert header.startswith("#") and "codesweep " in header
    if recipe.data.effective_batch_size:
        assert recipe.grad_accum_for(max(1, recipe.train.num_workers)) >= 1


def test_function_naming_recipe_is_what_users_asked_for() -> None:
    recipe = load_recipe(TUNING / "function_naming.yaml", TuningRecipe)
    assert recipe.data.effective_batch_size == 32 and recipe.data.packing
    assert recipe.model.quantization.bits == 4 and recipe.model.dtype == "bfloat16"
    assert recipe.data.micro_batch_size * recipe.grad_accum_for(2) * 2 == 32


def test_parameter_set_inherits_from_its_parent() -> None:
    child = load_recipe(TUNING / "concode-b8.yaml", TuningRecipe)
    assert child.data.micro_batch_size == 8 and child.grad_accum_for(1) == 4
    assert child.model.name_or_path == "Salesforce/codet5-small"


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_referenced_pipeline_and_suite_build_what_the_recipe_reads(path: Path) -> None:
    from codesweep.config.pipeline import PipelineConfig
    from codesweep.config.schema import EvalSuite

    recipe = load_recipe(path, TuningRecipe)
    pipeline = load_recipe((path.parent / recipe.pipeline).resolve(), PipelineConfig)
    built = {task.name or task.builder for task in pipeline.tasks}
    if recipe.data.task:
        swept = recipe.sweep.space.get("data.ir_variant")
        variants = {recipe.data.ir_variant} | set(swept.choice if swept else [])
        wanted = {f"{recipe.data.task}_{v}" if v else recipe.data.task for v in variants}
        assert wanted <= built, f"{path.name} trains on {wanted - built}, not built"
    suite = load_recipe((path.parent / recipe.eval).resolve(), EvalSuite)
    datasets = {task.dataset for task in suite.tasks if task.dataset}
    assert datasets <= built, f"{path.name}: eval reads {datasets - built}, not built"
