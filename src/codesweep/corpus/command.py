"""`codesweep prepare`: the command-line face of the corpus pipeline (imports stay light)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer


def default_cache_root() -> Path:
    """$CODESWEEP_CACHE, else ./.cache/codesweep."""
    return Path(os.environ.get("CODESWEEP_CACHE") or Path.cwd() / ".cache" / "codesweep")


def prepare_command(
    pipeline: Path = typer.Argument(
        ..., help="pipeline recipe (YAML), e.g. pipelines/quickstart.yaml"),
    override: list[str] = typer.Option(
        [], "--override", "-o", help="KEY.PATH=VALUE recipe override; repeatable"),
    force: bool = typer.Option(
        False, "--force", help="rebuild even if the same inputs were prepared"),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="cache root (default: $CODESWEEP_CACHE or ./.cache/codesweep)"),
) -> None:
    """Turn the recipe's sources into filtered, deduplicated, split Parquet datasets."""
    from rich.console import Console

    from codesweep.config.loader import load_recipe
    from codesweep.config.pipeline import PipelineConfig
    from codesweep.corpus.pipeline import prepare
    from codesweep.corpus.summary import print_summary

    console = Console(stderr=True)
    config = load_recipe(pipeline, PipelineConfig, override)
    start = time.perf_counter()

    def progress(message: str) -> None:
        console.print(f"[dim]{time.perf_counter() - start:6.1f}s[/] {message}", highlight=False)

    result = prepare(config, recipe_dir=pipeline.resolve().parent,
                     cache_root=(cache_dir or default_cache_root()).resolve(),
                     force=force, progress=progress)
    print_summary(Console(), result.manifest, str(result.path), result.reused)
