"""Checks of everything a tuning recipe refers to, run before Ray starts or anything is
written: the pipeline and evaluation recipes exist and load, their task builders and metrics
are registered, and every evaluated dataset is a task the pipeline builds. A mistake found
here costs a second; found later it costs a whole prepare or a model generation."""

from __future__ import annotations

from pathlib import Path

from codesweep.config.loader import load_recipe
from codesweep.config.pipeline import PipelineConfig
from codesweep.config.schema import EvalSuite, TuningRecipe
from codesweep.errors import CodesweepError


def check_references(recipe_path: Path, recipe: TuningRecipe) -> None:
    """Raise a one-line CodesweepError for the first broken reference of the recipe."""
    pipeline_path = referenced(recipe_path, recipe.pipeline, "pipeline")
    pipeline = load_recipe(pipeline_path, PipelineConfig)
    check_builders(pipeline_path, pipeline)
    if recipe.eval:
        suite_path = referenced(recipe_path, recipe.eval, "eval")
        check_suite(suite_path, load_recipe(suite_path, EvalSuite),
                    {task.output_name for task in pipeline.tasks})


def referenced(recipe_path: Path, reference: str, field: str) -> Path:
    """A file named in the recipe, relative to the recipe's folder; it must exist."""
    path = (recipe_path.parent / reference).resolve()
    if not path.is_file():
        raise CodesweepError(f"{recipe_path}: {field}: {reference} not found (looked for {path})")
    return path


def check_builders(path: Path, pipeline: PipelineConfig) -> None:
    """Every task of the pipeline names a registered task builder."""
    from codesweep.tasks.registry import BUILDERS

    for index, task in enumerate(pipeline.tasks):
        if task.builder not in BUILDERS:
            raise CodesweepError(f"{path}: tasks[{index}].builder: "
                                 f"{BUILDERS.unknown(task.builder)}")


def check_suite(path: Path, suite: EvalSuite, prepared_tasks: set[str]) -> None:
    """Every metric of the suite is registered; every dataset is a task the pipeline builds."""
    from codesweep.metrics import available
    from codesweep.metrics.registry import METRICS

    for index, task in enumerate(suite.tasks):
        where = f"{path}: tasks[{index}] ({task.name})"
        for name in task.metrics:
            if name not in available():
                raise CodesweepError(f"{where}.metrics: {METRICS.unknown(name)}")
        if task.dataset is not None and task.dataset not in prepared_tasks:
            known = ", ".join(sorted(prepared_tasks)) or "none"
            raise CodesweepError(f"{where}.dataset: {task.dataset} is not a task of the "
                                 f"pipeline (its tasks: {known})")
