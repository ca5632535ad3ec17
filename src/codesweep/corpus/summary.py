"""The rich summary printed at the end of `codesweep prepare`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def stage_table(manifest: dict[str, Any]) -> Table:
    """Files in/out per stage, with every drop reason and its count."""
    table = Table(title="prepare: files per stage", title_justify="left")
    for column in ("stage", "in", "dropped", "out", "reasons"):
        table.add_column(column, justify="right" if column in ("in", "dropped", "out") else "left")
    for stage, row in manifest["counts"]["stages"].items():
        reasons = ", ".join(f"{reason} {n}" for reason, n in row["dropped"].items()) or "-"
        table.add_row(stage, str(row["in"]), str(row["in"] - row["out"]), str(row["out"]),
                      reasons)
    return table


def split_table(manifest: dict[str, Any]) -> Table:
    """Files, bytes and task examples per split."""
    tasks = manifest.get("tasks", {})
    table = Table(title="prepare: splits", title_justify="left")
    table.add_column("split")
    table.add_column("files", justify="right")
    table.add_column("MB", justify="right")
    for name in tasks:
        table.add_column(f"{name} examples", justify="right")
    for split, row in manifest["splits"].items():
        examples = [str(tasks[name].get(split, {}).get("examples", "-")) for name in tasks]
        table.add_row(split, str(row["files"]), f"{row['bytes'] / 1e6:.2f}", *examples)
    return table


def print_summary(console: Console, manifest: dict[str, Any], path: str, reused: bool) -> None:
    """Print both tables, the transforms, and where the output is."""
    console.print(stage_table(manifest))
    console.print(split_table(manifest))
    transforms = manifest.get("transforms", {})
    console.print(f"licence headers stripped: {transforms.get('license_header_stripped', 0)}, "
                  f"lines dropped: {transforms.get('lines_dropped', 0)}")
    state = "reused (same inputs; --force rebuilds)" if reused else "written"
    console.print(f"[bold green]{state}:[/] {path}", highlight=False, soft_wrap=True)
