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
FIX_SEARCHED = typer.Option(
    False, "--fix-searched",
    help="an -o override of a key that sweep.space searches removes it from the search")
RESTART = typer.Option(False, "--restart", help="discard an unfinished sweep and start over")
VERIFY = typer.Option(
    False, "--verify", help="check every byte of cached data and base model before reuse "
    "(default: sizes and file ends)")
