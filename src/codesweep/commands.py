"""The experiment commands: sweep, evaluate, run, report (prepare lives with the corpus)."""

from __future__ import annotations

from pathlib import Path

import typer

from codesweep.flow import console

RECIPE = typer.Argument(..., help="tuning recipe (YAML)", exists=False)
OVERRIDES = typer.Option([], "--override", "-o", help="dotted override, e.g. lora.r=16")
RUN_DIR = typer.Option(None, "--run-dir", help="run directory (default: runs/<name>)")
CACHE = typer.Option(None, "--cache-dir", help="data/model cache (default: .cache/codesweep)")
TRACKING = typer.Option(None, "--tracking-uri", help="MLflow URI (default: run dir sqlite)")


def _prepare_sweep(recipe: Path, overrides: list[str], run_dir: Path | None,
                   cache_dir: Path | None, tracking_uri: str | None, force: bool = False):
    from codesweep.flow import load_experiment, record_run, stage_base, stage_prepare
    from codesweep.ray_runtime import ensure_ray

    exp = load_experiment(recipe, overrides, run_dir, cache_dir)
    ensure_ray()
    prepared = stage_prepare(exp, force=force)
    base_path = stage_base(exp, prepared.path)
    return exp, record_run(exp, prepared.path, base_path, tracking_uri)


def sweep_command(recipe: Path = RECIPE, override: list[str] = OVERRIDES,
                  run_dir: Path | None = RUN_DIR, cache_dir: Path | None = CACHE,
                  tracking_uri: str | None = TRACKING,
                  resume: bool = typer.Option(False, help="finish an interrupted sweep")) -> None:
    """Prepare data and base model if needed, then sweep LoRA fine-tunes with Ray Tune."""
    from codesweep.flow import stage_sweep
    from codesweep.report import trials_table

    exp, info = _prepare_sweep(recipe, override, run_dir, cache_dir, tracking_uri)
    found = stage_sweep(exp, info, resume=resume)
    console.print(trials_table(found))
    console.print(f"run directory: {exp.run_dir}")


def evaluate_command(suite: Path = typer.Argument(..., help="evaluation suite (YAML)"),
                     run: Path = typer.Option(..., "--run", help="run directory of a sweep")
                     ) -> None:
    """Score the base model and every trial checkpoint of a run on an evaluation suite."""
    from codesweep.flow import stage_evaluate
    from codesweep.ray_runtime import ensure_ray
    from codesweep.report import summary_table

    ensure_ray()
    summary = stage_evaluate(run.resolve(), suite.resolve())
    console.print(summary_table(summary))


def run_command(recipe: Path = RECIPE, override: list[str] = OVERRIDES,
                run_dir: Path | None = RUN_DIR, cache_dir: Path | None = CACHE,
                tracking_uri: str | None = TRACKING,
                force: bool = typer.Option(False, help="rebuild the prepared data")) -> None:
    """All stages: prepare -> base model -> sweep -> evaluate -> report; unchanged stages reuse."""
    from codesweep.errors import CodesweepError
    from codesweep.flow import stage_evaluate, stage_sweep
    from codesweep.report import build_report

    exp, info = _prepare_sweep(recipe, override, run_dir, cache_dir, tracking_uri, force)
    if not exp.recipe.eval:
        raise CodesweepError(f"{recipe}: eval: is not set; `run` needs an evaluation suite")
    stage_sweep(exp, info)
    stage_evaluate(exp.run_dir, Path(info["eval"]))
    build_report(exp.run_dir)
    console.print(f"results: {exp.run_dir}/report/leaderboard.md  "
                  f"MLflow: mlflow ui --backend-store-uri {info['tracking_uri']}")


def report_command(run: Path = typer.Argument(..., help="run directory")) -> None:
    """Print the leaderboard and write report/ (Markdown and PNG plots) for a run."""
    from codesweep.report import build_report

    build_report(run.resolve())
