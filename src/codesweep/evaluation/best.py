"""Which checkpoint of each trial is best: the sweep metric decides, in its own direction.

`sweep.metric: eval.<task>.<metric>` ranks a trial's checkpoints by the full suite's score of
that task and metric (summary.json); `val_loss` ranks them by the validation loss each
report carried. The direction comes from the metric registry (`wer` is lower-is-better).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codesweep.config.schema import metric_mode
from codesweep.records import CheckpointRef
from codesweep.rundir import RECIPE, SUMMARY, read_summary, read_trials


@dataclass(frozen=True)
class Ranking:
    """The metric checkpoints are ranked by and whether higher is better."""

    metric: str
    higher_is_better: bool

    def best(self, values: dict[int, float]) -> int | None:
        """The step with the best value (the earliest on ties); None without values."""
        if not values:
            return None
        pick = max if self.higher_is_better else min
        return pick(sorted(values), key=values.__getitem__)


def sweep_ranking(run_dir: Path) -> Ranking:
    """The run's sweep metric and direction (val_loss when the run has no recipe)."""
    from codesweep.config.loader import load_recipe
    from codesweep.config.schema import TuningRecipe

    recipe_file = run_dir / RECIPE
    metric = load_recipe(recipe_file, TuningRecipe).sweep.metric if recipe_file.is_file() \
        else "val_loss"
    return Ranking(metric, metric_mode(metric) == "max")


def step_values(run_dir: Path, metric: str) -> dict[str, dict[int, float]]:
    """Per trial, {step: value of `metric`} over its scored or reported checkpoints."""
    values: dict[str, dict[int, float]] = {}
    if metric.startswith("eval."):
        _, task, name = metric.split(".")
        summary = read_summary(run_dir) if run_dir.joinpath(*SUMMARY).is_file() else []
        for record in summary:
            if record.task == task and record.step is not None and name in record.scores:
                values.setdefault(record.checkpoint, {})[record.step] = record.scores[name]
        return values
    for trial in read_trials(run_dir):
        values[trial.trial_id] = {int(row["step"]): float(row[metric]) for row in trial.history
                                  if row.get(metric) is not None and row.get("step") is not None}
    return values


def best_steps(run_dir: Path) -> dict[str, int]:
    """Each trial's best checkpoint step under the sweep metric, among its scored
    checkpoints once the run is evaluated: a report's val_loss may belong to a checkpoint
    that retention deleted since (trials without values left out)."""
    ranking = sweep_ranking(run_dir)
    scored = scored_steps(run_dir)
    picked = {trial: ranking.best({step: value for step, value in values.items()
                                   if trial not in scored or step in scored[trial]})
              for trial, values in step_values(run_dir, ranking.metric).items()}
    return {trial: step for trial, step in picked.items() if step is not None}


def scored_steps(run_dir: Path) -> dict[str, set[int]]:
    """Per trial, the steps of its checkpoints that the evaluation scored (none before it)."""
    if not run_dir.joinpath(*SUMMARY).is_file():
        return {}
    steps: dict[str, set[int]] = {}
    for record in read_summary(run_dir):
        if record.step is not None:
            steps.setdefault(record.checkpoint, set()).add(record.step)
    return steps


def retained_checkpoints(trial_id: str, last: str | None) -> list[CheckpointRef]:
    """The checkpoints Train kept next to the trial's last one, each with its step."""
    import torch

    if not last or not Path(last).is_dir():
        return []
    kept = [d for d in Path(last).parent.iterdir() if (d / "step.pt").is_file()]
    steps = {d: int(torch.load(d / "step.pt", weights_only=True)["step"]) for d in kept}
    return [CheckpointRef(trial_id=trial_id, step=steps[d], path=str(d))
            for d in sorted(kept, key=steps.__getitem__)]
