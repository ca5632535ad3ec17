"""The tables the commands print: prepare's summary, sweep trials, evaluation, leaderboard."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from codesweep.records import EvaluationRecord, TrialResult
from codesweep.report import Leaderboard, cell


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


def print_prepare_summary(console: Console, manifest: dict[str, Any], path: str,
                          reused: bool) -> None:
    """Print both tables, the transforms, and where the output is."""
    console.print(stage_table(manifest))
    console.print(split_table(manifest))
    transforms = manifest.get("transforms", {})
    console.print(f"licence headers stripped: {transforms.get('license_header_stripped', 0)}, "
                  f"lines dropped: {transforms.get('lines_dropped', 0)}")
    state = "reused (same inputs; --force rebuilds)" if reused else "written"
    console.print(f"[bold green]{state}:[/] {path}", highlight=False, soft_wrap=True)


def trials_table(trials: list[TrialResult]) -> Table:
    """Sweep summary: one row per trial with its params and final metrics."""
    keys = sorted({k for t in trials for k in t.params})
    view = Table(title="Sweep trials")
    for column in ["trial", "status", *keys, "val_loss", "train_loss", "steps"]:
        view.add_column(column, justify="left" if column in ("trial", "status") else "right")
    for trial in trials:
        final = trial.final
        view.add_row(trial.trial_id, trial.status,
                     *(cell(trial.params.get(k)) for k in keys),
                     cell(final.get("val_loss")), cell(final.get("train_loss")),
                     cell(final.get("step")))
    return view


def summary_table(summary: list[EvaluationRecord]) -> Table:
    """Evaluation summary: one row per (checkpoint, task) with its corpus-level scores."""
    metrics = list(dict.fromkeys(name for record in summary for name in record.scores))
    view = Table(title="Evaluation")
    for column in ["checkpoint", "step", "task", "n", "status", *metrics]:
        view.add_column(column, justify="left" if column in ("checkpoint", "task") else "right")
    for record in summary:
        view.add_row(record.checkpoint, cell(record.step), record.task, str(record.n),
                     record.status if record.status == "ok" else f"failed: {record.reason}",
                     *(cell(record.scores.get(name, float("nan"))) for name in metrics))
    return view


def render_leaderboard(console: Console, board: Leaderboard) -> None:
    """Print the leaderboard as a table."""
    if not console.is_terminal:  # logs and CI: no terminal width to respect, keep every column
        console.width = max(console.width, 200)
    view = Table(title=f"Leaderboard (by {board.sort_col})")
    for column in board.table.columns:
        view.add_column(str(column), justify="left" if column == "checkpoint" else "right",
                        overflow="fold")
    for _, row in board.table.iterrows():
        view.add_row(*(cell(v) for v in row))
    console.print(view)
