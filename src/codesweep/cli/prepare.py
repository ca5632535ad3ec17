"""`codesweep prepare`: the command-line face of the corpus pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

from codesweep.cli.options import CACHE, OVERRIDES, STORAGE, VERIFY


def prepare_command(
    pipeline: Path = typer.Argument(
        ..., help="pipeline recipe (YAML), e.g. pipelines/quickstart.yaml"),
    override: list[str] = OVERRIDES,
    force: bool = typer.Option(
        False, "--force", help="rebuild even if the same inputs were prepared"),
    cache_dir: Path | None = CACHE,
    storage: str | None = STORAGE,
    verify: bool = VERIFY,
) -> None:
    """Turn the recipe's sources into filtered, deduplicated, split Parquet datasets."""
    from codesweep.cli.console import console, timed_lines
    from codesweep.cli.tables import print_prepare_summary
    from codesweep.config.loader import load_recipe
    from codesweep.config.pipeline import PipelineConfig
    from codesweep.corpus.pipeline import prepare
    from codesweep.experiment import cache_root, storage_root

    config = load_recipe(pipeline, PipelineConfig, override)
    cache = cache_root(cache_dir, storage_root(storage))
    result = prepare(config, recipe_dir=pipeline.resolve().parent, cache_root=cache,
                     force=force, progress=timed_lines(), verify=verify)
    print_prepare_summary(console, result.manifest, str(result.path), result.reused)
