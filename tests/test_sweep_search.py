"""The sweep's searcher: TPE gets to model results within the trial budget a recipe sets,
instead of sampling at random for Optuna's default first 10 trials."""

from __future__ import annotations

import pytest

from codesweep.config.schema import TuningRecipe
from codesweep.tune.sweep import _searcher


def recipe_with(num_trials: int) -> TuningRecipe:
    return TuningRecipe.model_validate({
        "name": "t", "pipeline": "p.yaml",
        "sweep": {"num_trials": num_trials, "seed": 3,
                  "space": {"optim.lr": {"loguniform": [1.0e-4, 1.0e-2]}}}})


@pytest.mark.parametrize(("num_trials", "random_first"), [(4, 1), (12, 4), (60, 10)])
def test_tpe_models_results_after_a_third_of_the_budget(num_trials: int,
                                                         random_first: int) -> None:
    sampler = _searcher(recipe_with(num_trials))._sampler
    assert type(sampler).__name__ == "TPESampler"
    assert sampler._n_startup_trials == random_first


def test_no_space_means_no_searcher() -> None:
    recipe = TuningRecipe.model_validate({"name": "t", "pipeline": "p.yaml"})
    assert _searcher(recipe) is None
