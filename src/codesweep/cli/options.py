"""Arguments and options several commands share."""

from __future__ import annotations

import typer

RECIPE = typer.Argument(..., help="tuning recipe (YAML)", exists=False)
OVERRIDES = typer.Option([], "--override", "-o", help="dotted override, e.g. lora.r=16")
RUN_DIR = typer.Option(None, "--run-dir", help="run directory (default: runs/<name>)")
CACHE = typer.Option(
    None, "--cache-dir", help="data/model cache (default: $CODESWEEP_CACHE or ./.cache/codesweep)")
TRACKING = typer.Option(None, "--tracking-uri", help="MLflow URI (default: run dir sqlite)")
RUN = typer.Option(..., "--run", help="run directory of a sweep, or its name under the root")
STORAGE = typer.Option(
    None, "--storage",
    help="storage root for data, models and runs: a path or s3://, gs:// URI "
         "(default: $CODESWEEP_STORAGE, the recipe's storage:, else the working directory)")
