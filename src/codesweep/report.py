"""The leaderboard: base model vs every trial, as a table, a Markdown file and PNG plots."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from codesweep.fileio import write_text
from codesweep.records import SUMMARY_FIELDS
from codesweep.rundir import read_run, read_summary, read_trials


@dataclass
class Leaderboard:
    """Checkpoints best first (`sort_col` decides), and the best trial's row."""

    table: pd.DataFrame
    sort_col: str
    best: dict[str, Any]


def leaderboard(run_dir: Path) -> tuple[pd.DataFrame, str]:
    """One row per trial's best checkpoint (with its step) plus the base: eval scores per
    task, trial params and val loss; best first in the ranking metric's direction."""
    from codesweep.evaluation.best import best_steps, sweep_ranking
    from codesweep.metrics import higher_is_better

    run = read_run(run_dir)
    summary = _scored_rows(run_dir)
    best = best_steps(run_dir)
    chosen = _best_rows(summary, best)
    metric_cols = [c for c in summary.columns if c not in SUMMARY_FIELDS]
    wide = chosen.pivot_table(index="checkpoint", columns="task", values=metric_cols)
    wide = wide.dropna(axis=1, how="all")  # a metric only some tasks have
    wide.columns = [f"{task}/{metric}" for metric, task in wide.columns]
    steps = chosen.groupby("checkpoint")["step"].first()
    params = {t.trial_id: {**t.params, "val_loss": _val_loss_at(t, steps.get(t.trial_id))}
              for t in read_trials(run_dir)}
    table = steps.to_frame().join(wide).join(pd.DataFrame.from_dict(params, orient="index"),
                                              how="left")
    ranking = sweep_ranking(run_dir)
    sort_col, ascending = _sort_column(table, ranking, run.primary_metric or "edit_sim",
                                       higher_is_better)
    table = table.sort_values(sort_col, ascending=ascending)
    table.index.name = "checkpoint"
    return table.reset_index(), sort_col


def _scored_rows(run_dir: Path) -> pd.DataFrame:
    """summary.json's scored rows (failed pairs have no scores to rank)."""
    records = [record for record in read_summary(run_dir) if record.status == "ok"]
    summary = pd.DataFrame([{**record.row(), "step": record.step} for record in records])
    summary["step"] = summary["step"].astype("Int64")
    return summary


def _best_rows(summary: pd.DataFrame, best: dict[str, int]) -> pd.DataFrame:
    """The base's rows and, per trial, the rows of its best step (its last without one)."""
    last = summary.groupby("checkpoint")["step"].transform("max")
    keep = [name == "base" or step == best.get(name, newest)
            for name, step, newest in zip(summary["checkpoint"], summary["step"], last,
                                          strict=True)]
    return summary[keep]


def _val_loss_at(trial: Any, step: Any) -> Any:
    """The validation loss the trial reported at `step` (its final one when unknown)."""
    rows = [row for row in trial.history if step is not None and row.get("step") == step]
    return rows[0].get("val_loss") if rows else trial.final.get("val_loss")


def _sort_column(table: pd.DataFrame, ranking: Any, primary: str,
                 higher_is_better: Any) -> tuple[str, bool]:
    """(column, ascending): the sweep's eval metric when it has one, else the primary."""
    if ranking.metric.startswith("eval."):
        _, task, metric = ranking.metric.split(".")
        if f"{task}/{metric}" in table.columns:
            return f"{task}/{metric}", not ranking.higher_is_better
    column = next((c for c in table.columns if c.endswith(f"/{primary}")), table.columns[0])
    return column, not higher_is_better(column.rsplit("/", 1)[-1])


def cell(value: Any) -> str:
    """A table cell: floats to 4 significant digits, NaN as a dash."""
    if value is None or value is pd.NA:
        return "-"
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


def plot_eval_steps(run_dir: Path, out: Path) -> list[Path]:
    """One PNG per eval (task, metric): its value against training step, a line per trial
    (the base as a dashed horizontal line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = _scored_rows(run_dir)
    metrics = [c for c in summary.columns if c not in SUMMARY_FIELDS]
    written = []
    for task, rows in summary.groupby("task"):
        for metric in [m for m in metrics if rows[m].notna().any()]:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            for name, trial in rows[rows["checkpoint"] != "base"].groupby("checkpoint"):
                trial = trial.sort_values("step")
                ax.plot(trial["step"].astype(float), trial[metric], marker="o", label=name)
            for value in rows.loc[rows["checkpoint"] == "base", metric]:
                ax.axhline(value, color="#888888", linestyle="--", label="base")
            ax.set_xlabel("step")
            ax.set_ylabel(f"{task}/{metric}")
            ax.legend(fontsize=7)
            fig.tight_layout()
            path = out / f"steps_{task}_{metric.replace('@', '_at_')}.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            written.append(path)
    return written


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
    plot_eval_steps(run_dir, out)
    return Leaderboard(table, sort_col, best)
