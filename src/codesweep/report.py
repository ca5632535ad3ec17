"""The leaderboard: base model vs every trial, as a rich table, a Markdown file and PNG plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from codesweep.runs import read_json, trials


def leaderboard(run_dir: Path) -> tuple[pd.DataFrame, str]:
    """One row per checkpoint: eval scores per task, trial params and val loss; best first."""
    info = read_json(run_dir / "run.json", "run.json")
    summary = pd.DataFrame(read_json(run_dir / "eval" / "summary.json", "evaluation summary"))
    primary = info.get("primary_metric", "edit_sim")
    metric_cols = [c for c in summary.columns if c not in ("checkpoint", "task", "n")]
    wide = summary.pivot_table(index="checkpoint", columns="task", values=metric_cols)
    wide = wide.dropna(axis=1, how="all")  # a metric only some tasks have
    wide.columns = [f"{task}/{metric}" for metric, task in wide.columns]
    params = {t["trial_id"]: {**t["params"], "val_loss": t["final"].get("val_loss")}
              for t in trials(run_dir)}
    table = wide.join(pd.DataFrame.from_dict(params, orient="index"), how="left")
    sort_col = next((c for c in table.columns if c.endswith(f"/{primary}")), table.columns[0])
    table = table.sort_values(sort_col, ascending=False)
    table.index.name = "checkpoint"
    return table.reset_index(), sort_col


def render(table: pd.DataFrame, sort_col: str, console: Console | None = None) -> None:
    """Print the leaderboard as a rich table."""
    console = console or Console()
    if not console.is_terminal:  # logs and CI: no terminal width to respect, keep every column
        console.width = max(console.width, 200)
    view = Table(title=f"Leaderboard (by {sort_col})")
    for column in table.columns:
        view.add_column(str(column), justify="left" if column == "checkpoint" else "right",
                        overflow="fold")
    for _, row in table.iterrows():
        view.add_row(*(_cell(v) for v in row))
    console.print(view)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def write_markdown(table: pd.DataFrame, sort_col: str, best: dict[str, Any], path: Path) -> None:
    """leaderboard.md: the table and the best trial's parameters."""
    lines = [f"# Leaderboard (by {sort_col})", "",
             "| " + " | ".join(map(str, table.columns)) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for _, row in table.iterrows()]
    lines += ["", f"## Best trial: {best.get('checkpoint')}", ""]
    lines += [f"- `{key}`: {_cell(value)}" for key, value in best.items() if key != "checkpoint"]
    path.write_text("\n".join(lines) + "\n")


def plot_metric(table: pd.DataFrame, column: str, path: Path) -> None:
    """Bar chart of one evaluation metric per checkpoint (base included)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(table) + 2), 3.5))
    colors = ["#888888" if c == "base" else "#3b75af" for c in table["checkpoint"]]
    ax.bar(table["checkpoint"].astype(str), table[column], color=colors)
    ax.set_ylabel(column)
    ax.set_title(f"{column} per checkpoint")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_losses(run_dir: Path, path: Path) -> None:
    """Training and validation loss against step, one line pair per trial."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for trial in trials(run_dir):
        history = pd.DataFrame(trial["history"])
        if history.empty:
            continue
        line, = ax.plot(history["step"], history["val_loss"], label=f"{trial['trial_id']} val")
        ax.plot(history["step"], history["train_loss"], linestyle="--", color=line.get_color())
    ax.set_xlabel("step")
    ax.set_ylabel("loss (solid: validation, dashed: train)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_report(run_dir: Path, console: Console | None = None) -> dict[str, Any]:
    """Write report/ (Markdown + PNGs), print the table, return the best trial's row."""
    table, sort_col = leaderboard(run_dir)
    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    trials_only = table[table["checkpoint"] != "base"]
    best = trials_only.iloc[0].dropna().to_dict() if len(trials_only) else {}
    render(table, sort_col, console)
    write_markdown(table, sort_col, best, out / "leaderboard.md")
    plot_metric(table, sort_col, out / f"eval_{sort_col.replace('/', '_')}.png")
    plot_losses(run_dir, out / "loss_curves.png")
    return best


def trials_table(found: list[dict[str, Any]]) -> Table:
    """Sweep summary: one row per trial with its params and final metrics."""
    keys = sorted({k for t in found for k in t["params"]})
    view = Table(title="Sweep trials")
    for column in ["trial", "status", *keys, "val_loss", "train_loss", "steps"]:
        view.add_column(column, justify="left" if column in ("trial", "status") else "right")
    for trial in found:
        final = trial["final"]
        view.add_row(trial["trial_id"], trial["status"],
                     *(_cell(trial["params"].get(k)) for k in keys),
                     _cell(final.get("val_loss")), _cell(final.get("train_loss")),
                     _cell(final.get("step")))
    return view


def summary_table(summary: pd.DataFrame) -> Table:
    """Evaluation summary: one row per (checkpoint, task) with its corpus-level scores."""
    view = Table(title="Evaluation")
    for column in summary.columns:
        left = column in ("checkpoint", "task")
        view.add_column(str(column), justify="left" if left else "right")
    for _, row in summary.iterrows():
        view.add_row(*(_cell(v) for v in row))
    return view
