"""The tables the commands print: prepare's summary, sweep trials, evaluation, leaderboard."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from codesweep.records import EvaluationRecord, TrialResult
from codesweep.report import Example, Leaderboard, cell, short_name, task_count
from codesweep.tune.trial_board import TrialRow


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
    """Print the leaderboard: what the numbers mean, the table with short headers that fit
    100 columns, and any note on disagreeing rankings."""
    table = _without_uniform_split(board.table)
    view = Table(title=f"Leaderboard: {board.header}", title_justify="left")
    for column, header in zip(table.columns, _headers(list(table.columns), task_count(table)),
                              strict=True):
        # min_width: a header never breaks mid-word; long cells (a status) wrap at spaces
        view.add_column(header, min_width=len(header), overflow="fold",
                        justify="left" if column in ("checkpoint", "status") else "right")
    for _, row in table.iterrows():
        view.add_row(*(cell(v) for v in row))
    console.print(view)
    for note in board.notes:
        console.print(note, highlight=False)


def _without_uniform_split(table: Any) -> Any:
    # one split for every row is said in the header ("scored on split test"): no column
    if "split" in table.columns and table["split"].nunique() <= 1:
        return table.drop(columns="split")
    return table


def _headers(columns: list[str], tasks: int) -> list[str]:
    """Short headers: metrics by their short names, searched params by their last dotted
    part (`data.window` -> `window`) unless two params would then share a name."""
    headers = [short_name(str(c), tasks) for c in columns]
    last = [h.rsplit(".", 1)[-1] for h in headers]
    return [short if "." in full and last.count(short) == 1 else full
            for full, short in zip(headers, last, strict=True)]


def trial_board_table(rows: list[TrialRow]) -> Table:
    """The live sweep table: searched params, step/total, latest losses and eval, state."""
    keys = list(dict.fromkeys(k for row in rows for k in row.params))
    # light borders: a sweep of four searched keys still fits 100 columns
    view = Table(title="sweep", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                 collapse_padding=True, pad_edge=False)
    for column in ["trial", *keys, "step", "train", "val", "eval", "state"]:
        view.add_column(column, min_width=len(column), no_wrap=column == "trial",
                        justify="left" if column in ("trial", "state", "eval") else "right")
    for row in rows:
        step = "-" if row.step is None else str(row.step)
        # the metric's own name is enough: `eval.<task>.` would squeeze the other columns
        metric = (f"{row.eval_metric[0].rsplit('.', 1)[-1]} {row.eval_metric[1]:.1f}"
                  if row.eval_metric else "-")
        view.add_row(row.trial_id, *(cell(row.params.get(k)) for k in keys),
                     f"{step}/{row.max_steps}", cell(row.train_loss), cell(row.val_loss),
                     metric, row.state)
    return view



def timings_table(stages: dict[str, float], trials: list[TrialRow]) -> Table:
    """Seconds per stage, each trial under the sweep (trials overlap when run side by side)."""
    view = Table(title="timings", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    view.add_column("stage")
    view.add_column("seconds", justify="right")
    for stage, seconds in stages.items():
        view.add_row(stage, f"{seconds:.1f}")
        if stage == "sweep":
            for row in trials:
                view.add_row(f"  trial {row.trial_id} ({row.state})",
                             "-" if row.seconds is None else f"{row.seconds:.1f}")
    view.add_row("total", f"{sum(stages.values()):.1f}")
    return view


def print_examples(console: Console, examples: list[Example], trial_id: str) -> None:
    """Base vs tuned on a few held-out lines, one line each, cut to the terminal's width."""
    if not examples:
        console.print(f"examples: base and {trial_id} complete every held-out line the same "
                      "way", highlight=False)
        return
    console.print(f"examples: base vs {trial_id} on held-out lines (where they differ)",
                  highlight=False)
    for example in examples:
        for label, text in (("context", example.context), ("reference", example.reference),
                            ("base", example.base), (trial_id, example.tuned)):
            console.print(f"  {label:>10} | {text!r}"[: max(20, console.width)],
                          highlight=False, no_wrap=True, overflow="ellipsis", markup=False)
        console.print()
