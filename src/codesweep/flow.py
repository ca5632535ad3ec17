"""The stages of an experiment and how each is reused when its inputs are unchanged.

prepare (cached by content hash) -> base model (cached by hash) -> sweep (reused when the
sweep key matches) -> evaluate (already-scored pairs skipped) -> report.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from codesweep import __version__
from codesweep.config.loader import load_recipe
from codesweep.config.schema import EvalSuite, TuningRecipe
from codesweep.errors import CodesweepError
from codesweep.runs import read_json, run_info, write_json

console = Console(stderr=True)


def cache_root(explicit: Path | None = None) -> Path:
    """--cache-dir, else $CODESWEEP_CACHE, else ./.cache/codesweep."""
    return (explicit or Path(os.environ.get("CODESWEEP_CACHE", ".cache/codesweep"))).resolve()


@dataclass
class Experiment:
    """A loaded tuning recipe and where its outputs go."""

    recipe_path: Path
    recipe: TuningRecipe
    run_dir: Path
    cache_root: Path

    def sibling(self, reference: str) -> Path:
        """A recipe path named in the tuning recipe, relative to the tuning recipe's folder."""
        path = (self.recipe_path.parent / reference).resolve()
        if not path.is_file():
            raise CodesweepError(f"{self.recipe_path}: referenced recipe {reference} not found")
        return path


def load_experiment(path: Path, overrides: list[str], run_dir: Path | None,
                    cache: Path | None) -> Experiment:
    """Load a tuning recipe with overrides; the run dir defaults to runs/<name>."""
    recipe = load_recipe(path, TuningRecipe, overrides)
    target = run_dir or Path(recipe.run_dir or f"runs/{recipe.name}")
    return Experiment(path.resolve(), recipe, target.resolve(), cache_root(cache))


def stage_prepare(exp: Experiment, force: bool = False) -> Any:
    """Prepare (or reuse) the dataset the recipe's pipeline describes."""
    from codesweep.config.pipeline import PipelineConfig
    from codesweep.corpus.pipeline import prepare

    pipeline_path = exp.sibling(exp.recipe.pipeline)
    config = load_recipe(pipeline_path, PipelineConfig)
    with console.status(f"prepare: {pipeline_path.name}"):
        prepared = prepare(config, recipe_dir=pipeline_path.parent, cache_root=exp.cache_root,
                           force=force)
    console.print(f"prepare: {'reused' if prepared.reused else 'built'} {prepared.path}")
    return prepared


def stage_base(exp: Experiment, prepared_path: Path) -> str:
    """The base model's path: the recipe's hub id/dir, or the cached tiny model."""
    model = exp.recipe.model
    if model.name_or_path:
        from codesweep.models.factory import check_loadable

        check_loadable(model.name_or_path)  # a typo should not surface from inside a trial
        return model.name_or_path
    from codesweep.train.local import read_texts
    from codesweep.train.pretrain import ensure_tiny_base

    path, reused = ensure_tiny_base(
        model.tiny, lambda: read_texts(prepared_path / "files" / "train"),
        data_key=prepared_path.name, cache_root=exp.cache_root, log=console.print)
    console.print(f"base model: {'reused' if reused else 'built'} {path}")
    return str(path)


def sweep_key(exp: Experiment, prepared_path: Path, base_path: str) -> str:
    """What a finished sweep depends on: the training sections, the data and the base."""
    recipe = exp.recipe.model_dump(exclude={"eval", "tracking", "run_dir"})
    payload = json.dumps([recipe, prepared_path.name, base_path, __version__], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def record_run(exp: Experiment, prepared_path: Path, base_path: str,
               tracking: str | None) -> dict[str, Any]:
    """Write run.json and the resolved recipe; return run.json's content."""
    from codesweep.tracking import tracking_uri

    exp.run_dir.mkdir(parents=True, exist_ok=True)
    (exp.run_dir / "recipe.yaml").write_text(yaml.safe_dump(exp.recipe.model_dump(by_alias=True),
                                                             sort_keys=False))
    info = {
        "name": exp.recipe.name, "recipe": str(exp.recipe_path),
        "eval": str(exp.sibling(exp.recipe.eval)) if exp.recipe.eval else None,
        "prepared": str(prepared_path), "base_path": base_path,
        "dtype": exp.recipe.model.dtype,
        "sweep_key": sweep_key(exp, prepared_path, base_path),
        "tracking_uri": tracking_uri(exp.run_dir, tracking or exp.recipe.tracking.uri),
        "experiment": exp.recipe.tracking.experiment, "codesweep_version": __version__,
    }
    previous = exp.run_dir / "run.json"
    if previous.is_file():  # keep what earlier stages recorded (finished sweep key, eval)
        info = {**read_json(previous, "run.json"), **info}
    write_json(exp.run_dir / "run.json", info)
    return info


def sweep_is_current(run_dir: Path, key: str) -> bool:
    """True when trials.json exists and was produced under the same sweep key."""
    path = run_dir / "trials.json"
    return path.is_file() and read_json(run_dir / "run.json", "run.json").get("done_sweep") == key


def load_suite(path: Path) -> EvalSuite:
    """Load an evaluation suite recipe."""
    return load_recipe(path, EvalSuite)


def checkpoints_of(run_dir: Path) -> list[Any]:
    """The base model plus every trial's final checkpoint, in trial order."""
    from codesweep.evaluation.runner import Checkpoint
    from codesweep.runs import trials

    found = [Checkpoint("base", None)]
    for trial in trials(run_dir):
        if trial["checkpoint"]:
            found.append(Checkpoint(trial["trial_id"], trial["checkpoint"]))
        else:
            console.print(f"[yellow]trial {trial['trial_id']} has no checkpoint "
                          f"({trial['status']}): not evaluated[/]")
    return found


def info_of(run_dir: Path) -> dict[str, Any]:
    """run.json of an existing run directory."""
    return run_info(run_dir)


def stage_sweep(exp: Experiment, info: dict[str, Any], resume: bool = False) -> list[dict]:
    """Run (or reuse, or resume) the sweep; write trials.json; log trials to MLflow."""
    from codesweep.tune.sweep import collect_trials, make_tuner

    if not resume and sweep_is_current(exp.run_dir, info["sweep_key"]):
        console.print("sweep: reused (recipe, data and base model unchanged)")
        return read_json(exp.run_dir / "trials.json", "trials.json")
    base_spec = {
        "recipe": exp.recipe.model_dump(by_alias=True), "base_path": info["base_path"],
        "files_dir": str(Path(info["prepared"]) / "files"),
        "train_dir": str(exp.run_dir / "train"),
    }
    tuner = make_tuner(exp.recipe, base_spec, exp.run_dir, resume=resume)
    results = tuner.fit()
    found = collect_trials(results)
    if not any(t["checkpoint"] for t in found):
        first_error = next((t["error"] for t in found if t["error"]), "no checkpoint reported")
        raise CodesweepError(f"sweep: every trial failed; first error: {first_error}")
    write_json(exp.run_dir / "trials.json", found)
    write_json(exp.run_dir / "run.json", {**info, "done_sweep": info["sweep_key"]})
    log_trials(exp.run_dir, info, exp.recipe, found)
    return found


def log_trials(run_dir: Path, info: dict[str, Any], recipe: TuningRecipe,
               found: list[dict]) -> None:
    """Parent run for the sweep, child per trial with params and metric curves."""
    from codesweep.tracking import Tracker

    tracker = Tracker(info["tracking_uri"], info["experiment"], run_dir)
    data_name = Path(info["prepared"]).name  # <pipeline>-<content hash of data + recipe>
    parent = tracker.parent(recipe.name, {"codesweep.version": __version__,
                                          "codesweep.data": data_name,
                                          "codesweep.dataset_hash": data_name.rsplit("-", 1)[-1],
                                          "ray.job_id": os.environ.get("RAY_JOB_ID", "local")})
    tracker.log_params(parent, recipe.model_dump(by_alias=True))
    tracker.log_artifact(parent, run_dir / "recipe.yaml")
    for trial in found:
        child = tracker.child(parent, trial["trial_id"], {
            "checkpoint": str(trial["checkpoint"]), "status": trial["status"],
            "best_checkpoint": str(trial.get("best_checkpoint"))})
        tracker.log_params(child, trial["params"])
        tracker.log_metrics(child, trial["history"])
        tracker.finish(child, "FINISHED" if trial["status"] == "done" else "FAILED")
    tracker.finish(parent)


def stage_evaluate(run_dir: Path, suite_path: Path) -> Any:
    """Score the base model and every trial checkpoint; summary.json; MLflow eval metrics."""
    from codesweep.evaluation.runner import run_evaluation, save_summary, summarize

    info = info_of(run_dir)
    suite = load_suite(suite_path)
    checkpoints = checkpoints_of(run_dir)
    results_dir = run_dir / "eval" / "results"
    with console.status(f"evaluate: {len(checkpoints)} checkpoints x {len(suite.tasks)} tasks"):
        scored = run_evaluation(suite, checkpoints, info["base_path"], Path(info["prepared"]),
                                results_dir, info.get("dtype", "auto"),
                                progress=lambda name: console.print(f"  scored {name}"))
    console.print(f"evaluate: {scored} new (checkpoint, task) pairs scored, "
                  f"{len(checkpoints) * len(suite.tasks) - scored} reused")
    summary = summarize(suite, checkpoints, results_dir)
    save_summary(summary, run_dir / "eval" / "summary.json")
    write_json(run_dir / "run.json", {**info, "primary_metric": suite.primary_metric,
                                      "eval": str(suite_path)})
    log_eval(run_dir, info, summary)
    return summary


def log_eval(run_dir: Path, info: dict[str, Any], summary: Any) -> None:
    """Evaluation scores into each checkpoint's child run as `eval.<task>.<metric>`."""
    from codesweep.tracking import Tracker

    tracker = Tracker(info["tracking_uri"], info["experiment"], run_dir)
    parent = tracker.parent(info["name"], {})
    for record in summary.to_dict("records"):
        child = tracker.child(parent, record["checkpoint"])
        rows = {f"eval.{record['task']}.{k}": v for k, v in record.items()
                if k not in ("checkpoint", "task", "n")}
        tracker.log_metrics(child, [{"step": 0, **rows}])
