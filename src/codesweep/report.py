"""The leaderboard: base model vs every trial, as a table, a Markdown file and PNG plots."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from codesweep.fileio import write_text
from codesweep.rundir import read_run, read_summary, read_trials


@dataclass
class Leaderboard:
    """Checkpoints best first (`sort_col` decides), and the best trial's row."""

    table: pd.DataFrame
    sort_col: str
    best: dict[str, Any]


def leaderboard(run_dir: Path) -> tuple[pd.DataFrame, str]:
    """One row per checkpoint: eval scores per task, trial params and val loss; best first."""
    run = read_run(run_dir)
    summary = pd.DataFrame([record.row() for record in read_summary(run_dir)])
    primary = run.primary_metric or "edit_sim"
    metric_cols = [c for c in summary.columns if c not in ("checkpoint", "task", "n")]
    wide = summary.pivot_table(index="checkpoint", columns="task", values=metric_cols)
    wide = wide.dropna(axis=1, how="all")  # a metric only some tasks have
    wide.columns = [f"{task}/{metric}" for metric, task in wide.columns]
    params = {t.trial_id: {**t.params, "val_loss": t.final.get("val_loss")}
              for t in read_trials(run_dir)}
    table = wide.join(pd.DataFrame.from_dict(params, orient="index"), how="left")
    sort_col = next((c for c in table.columns if c.endswith(f"/{primary}")), table.columns[0])
    table = table.sort_values(sort_col, ascending=False)
    table.index.name = "checkpoint"
    return table.reset_index(), sort_col


def cell(value: Any) -> str:
    """A table cell: floats to 4 significant digits, NaN as a dash."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def write_markdown(table: pd.DataFrame, sort_col: str, best: dict[str, Any], path: Path) -> None:
    """leaderboard.md: the table and the best trial's parameters."""
    lines = [f"# Leaderboard (by {sort_col})", "",
             "| " + " | ".join(map(str, table.columns)) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for _, row in table.iterrows()]
    lines += ["", f"## Best trial: {best.get('checkpoint')}", ""]
    lines += [f"- `{key}`: {cell(value)}" for key, value in best.items() if key != "checkpoint"]
    write_text(path, "\n".join(lines) + "\n")


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
    for trial in read_trials(run_dir):
        history = pd.DataFrame(trial.history)
        if history.empty:
            continue
        line, = ax.plot(history["step"], history["val_loss"], label=f"{trial.trial_id} val")
        ax.plot(history["step"], history["train_loss"], linestyle="--", color=line.get_color())
    ax.set_xlabel("step")
    ax.set_ylabel("loss (solid: validation, dashed: train)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_report(run_dir: Path) -> Leaderboard:
    """Write report/ (Markdown + PNGs); return the leaderboard for printing."""
    table, sort_col = leaderboard(run_dir)
    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    trials_only = table[table["checkpoint"] != "base"]
    best = trials_only.iloc[0].dropna().to_dict() if len(trials_only) else {}
    write_markdown(table, sort_col, best, out / "leaderboard.md")
    plot_metric(table, sort_col, out / f"eval_{sort_col.replace('/', '_')}.png")
    plot_losses(run_dir, out / "loss_curves.png")
    return Leaderboard(table, sort_col, best)
