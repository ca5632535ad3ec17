"""The leaderboard: base model vs every trial, as a table, a Markdown file and PNG plots."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from codesweep.config.loader import load_recipe
from codesweep.config.schema import EvalSuite, TuningRecipe
from codesweep.evaluation.margin import CONFIDENCE, Margin, is_mean_of_examples, paired_margin
from codesweep.fileio import write_text
from codesweep.records import SUMMARY_FIELDS, TrialResult
from codesweep.rundir import read_run, read_summary, read_trials, results_dir


@dataclass
class Leaderboard:
    """Checkpoints best first (`sort_col` decides), the best trial's row, and what to read
    with the table: the header (direction, scale, split), notes (disagreeing rankings, how
    sure the best trial beats the base) and each trial's margin over the base."""

    table: pd.DataFrame
    sort_col: str
    best: dict[str, Any]
    header: str = ""
    notes: list[str] = field(default_factory=list)
    margins: dict[str, Margin] = field(default_factory=dict)  # trial -> margin over the base


# Short metric names for column headers, so that a 100-column terminal never breaks one.
SHORT_METRICS = {"exact_match": "EM", "edit_sim": "edit", "codebleu": "cbleu",
                 "embedding_cosine": "emb", "token_iou": "iou", "sacrebleu": "sbleu",
                 "name_exact": "nameEM", "name_f1": "nameF1", "name_precision": "nameP",
                 "name_recall": "nameR"}


def leaderboard(run_dir: Path) -> tuple[pd.DataFrame, str]:
    """One row per trial's best checkpoint plus the base: status, step, split, n, eval scores
    per task (each task's primary metric first), trial params and val loss; best first in the
    ranking metric's direction (the sweep's eval metric when it has one)."""
    from codesweep.evaluation.best import best_steps, sweep_ranking
    from codesweep.metrics import higher_is_better

    run = read_run(run_dir)
    primary = run.primary_metric or "edit_sim"
    summary = _scored_rows(run_dir)
    chosen = _best_rows(summary, best_steps(run_dir))
    steps = chosen.groupby("checkpoint")["step"].first()
    trials = read_trials(run_dir)
    params = {t.trial_id: {**t.params, "val_loss": _val_loss_at(t, steps.get(t.trial_id))}
              for t in trials}
    table = metric_columns(chosen, summary, primary).join(
        pd.DataFrame.from_dict(params, orient="index"), how="left")
    ranking = sweep_ranking(run_dir)
    sort_col, ascending = _sort_column(table, ranking, primary, higher_is_better)
    table = _sorted(table, sort_col, ascending, tie_break=ranking)
    facts = checkpoint_facts(chosen, trials, _max_steps(run_dir), _splits(run_dir))
    table = facts.join(table, how="right")
    table.index.name = "checkpoint"
    return table.reset_index(), sort_col


def metric_columns(chosen: pd.DataFrame, summary: pd.DataFrame, primary: str) -> pd.DataFrame:
    """Scores as `task/metric` columns indexed by checkpoint, each task's primary metric first,
    then the others in the suite's order (not alphabetical)."""
    metric_cols = [c for c in summary.columns if c not in SUMMARY_FIELDS]
    wide = chosen.pivot_table(index="checkpoint", columns="task", values=metric_cols)
    wide = wide.dropna(axis=1, how="all")  # a metric only some tasks have
    wide.columns = [f"{task}/{metric}" for metric, task in wide.columns]
    # pivot_table sorts metrics by name; the suite's order (primary first) is what reads well
    rank = {metric: index for index, metric in enumerate(metric_cols)}
    order = sorted(wide.columns, key=lambda c: (c.split("/")[0], c.split("/")[1] != primary,
                                                rank.get(c.split("/")[1], len(rank))))
    return wide[order]


def checkpoint_facts(chosen: pd.DataFrame, trials: list[TrialResult],
                     max_steps: int | None, splits: dict[str, str]) -> pd.DataFrame:
    """status (finished / stopped early at step S / failed), the scored checkpoint's step,
    split and n per checkpoint (split and n of its first task)."""
    by_id = {t.trial_id: t for t in trials}
    facts: dict[str, dict[str, Any]] = {}
    for row in chosen.to_dict("records"):
        name = str(row["checkpoint"])
        if name in facts:
            continue
        trial = by_id.get(name)
        step = row.get("step")
        if (step is None or pd.isna(step)) and trial is not None:  # scored its final checkpoint
            step = trial.final.get("step")
        facts[name] = {"status": trial_status(trial, max_steps),
                       "step": "-" if step is None or pd.isna(step) else int(step),
                       "split": splits.get(str(row["task"]), "-"), "n": row["n"]}
    return pd.DataFrame.from_dict(facts, orient="index")


def trial_status(trial: TrialResult | None, max_steps: int | None) -> str:
    """How a checkpoint's training ended, in words; the base model was not trained here."""
    if trial is None:
        return "base"
    if trial.status == "error":
        return "failed"
    step = trial.final.get("step")
    if max_steps and step is not None and int(step) < max_steps:
        return f"stopped early at {int(step)}"
    return "finished"


def _max_steps(run_dir: Path) -> int | None:
    recipe = run_dir / "recipe.yaml"
    if not recipe.is_file():
        return None
    return int(load_recipe(recipe, TuningRecipe).train.max_steps)


def _higher_is_better(column: str) -> bool:
    from codesweep.metrics import higher_is_better

    return higher_is_better(column.split("/")[-1])


def header_line(run_dir: Path, sort_col: str) -> str:
    """What the numbers mean: the ranking metric and its direction, the scale, the splits."""
    direction = "higher" if _higher_is_better(sort_col) else "lower"
    splits = _splits(run_dir)
    where = f"; scored on split {', '.join(sorted(set(splits.values())))}" if splits else ""
    return (f"ranked by {sort_col} ({direction} is better); scores on a 0-100 scale{where}; "
            f"n = examples scored")


def _splits(run_dir: Path) -> dict[str, str]:
    """Each evaluated task's split, from the suite named in run.json (if still there)."""
    suite_path = read_run(run_dir).eval
    if not suite_path or not Path(suite_path).is_file():
        return {}
    suite = load_recipe(Path(suite_path), EvalSuite)
    return {task.name: task.split for task in suite.tasks}


def ranking_note(run_dir: Path, table: pd.DataFrame, sort_col: str) -> str | None:
    """One line when the sweep's metric and the leaderboard's primary metric pick different
    trials first (ASHA/Optuna ranked by one, the leaderboard by the other)."""
    recipe_path = run_dir / "recipe.yaml"
    trials = table[table["status"] != "base"]
    if not recipe_path.is_file() or trials.empty:
        return None
    sweep = load_recipe(recipe_path, TuningRecipe).sweep
    if sweep.metric not in trials:
        return None
    ranked = trials.dropna(subset=[sweep.metric])
    if ranked.empty:
        return None
    by_sweep = ranked.sort_values(sweep.metric, ascending=sweep.mode == "min").iloc[0]
    top = trials.iloc[0]
    if by_sweep["checkpoint"] == top["checkpoint"]:
        return None
    return (f"note: the sweep ranked {by_sweep['checkpoint']} first by {sweep.metric} "
            f"({sweep.mode}); by {sort_col} {top['checkpoint']} is first")


def task_count(table: pd.DataFrame) -> int:
    """How many tasks the leaderboard's `task/metric` columns name."""
    return len({str(c).split("/")[0] for c in table.columns if "/" in str(c)})


def short_name(column: str, tasks: int) -> str:
    """A header that fits: `task/metric` -> short metric name, with the task only when the
    leaderboard has several."""
    if "/" not in column:
        return column
    task, metric = column.split("/", 1)
    short = SHORT_METRICS.get(metric, metric)
    return f"{task}/{short}" if tasks > 1 else short
def _scored_rows(run_dir: Path) -> pd.DataFrame:
    """summary.json's scored rows (failed pairs have no scores to rank)."""
    records = [record for record in read_summary(run_dir) if record.status == "ok"]
    summary = pd.DataFrame([{**record.row(), "step": record.step} for record in records])
    summary["step"] = summary["step"].astype("Int64")
    return summary


def _best_rows(summary: pd.DataFrame, best: dict[str, int]) -> pd.DataFrame:
    """The base's rows and, per trial, the rows of its best step (its last without one); a
    trial scored only on its final checkpoint (no steps recorded) keeps its rows."""
    last = summary.groupby("checkpoint")["step"].transform("max")
    keep = [name == "base" or pd.isna(newest) or _same_step(step, best.get(name, newest))
            for name, step, newest in zip(summary["checkpoint"], summary["step"], last,
                                          strict=True)]
    return summary[pd.Series(keep, index=summary.index, dtype=bool)]


def _same_step(step: Any, wanted: Any) -> bool:
    """Steps match; a summary of final checkpoints only has no steps at all (both missing)."""
    if pd.isna(step) or pd.isna(wanted):
        return bool(pd.isna(step) and pd.isna(wanted))
    return int(step) == int(wanted)


def _val_loss_at(trial: Any, step: Any) -> Any:
    """The validation loss the trial reported at `step` (its final one when unknown)."""
    known = step is not None and not pd.isna(step)
    rows = [row for row in trial.history if known and row.get("step") == step]
    return rows[0].get("val_loss") if rows else trial.final.get("val_loss")


def _sorted(table: pd.DataFrame, column: str, ascending: bool, tie_break: Any) -> pd.DataFrame:
    """Best first by `column`; trials tied there are ordered by the sweep's own metric, so a
    tie never puts a different trial first than the sweep did."""
    columns, orders = [column], [ascending]
    if tie_break.metric in table.columns and tie_break.metric != column:
        columns.append(tie_break.metric)
        orders.append(not tie_break.higher_is_better)
    return table.sort_values(columns, ascending=orders, kind="stable")


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


def write_markdown(board: Leaderboard, path: Path) -> None:
    """leaderboard.md: what the numbers mean, the table, notes and the best trial's values."""
    table = board.table
    lines = [f"# Leaderboard (by {board.sort_col})", "", board.header, "",
             "| " + " | ".join(map(str, table.columns)) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for _, row in table.iterrows()]
    lines += ["", *board.notes] if board.notes else []
    if board.margins:
        lines += ["", f"## Against the base: {board.sort_col}", "",
                  "Mean per-example difference, trial - base, with a paired bootstrap "
                  f"{CONFIDENCE:.0%} confidence interval over the examples both scored. The "
                  "table ranks on these same examples, so its top row's interval leans "
                  "optimistic; a trial the sweep picked by its own metric does not.", "",
                  "| checkpoint | difference | CI low | CI high | better | worse | n |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {name} | {m.mean:+.2f} | {m.low:+.2f} | {m.high:+.2f} | {m.better} "
                  f"| {m.worse} | {m.n} |" for name, m in board.margins.items()]
    lines += ["", f"## Best trial: {board.best.get('checkpoint')}", ""]
    lines += [f"- `{key}`: {cell(value)}" for key, value in board.best.items()
              if key != "checkpoint"]
    write_text(path, "\n".join(lines) + "\n")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metric(table: pd.DataFrame, column: str, path: Path) -> None:
    """Bar chart of one `task/metric` per trial, the base model as a dashed reference line,
    the y range fitted to the values (a 1-point gap stays visible) and each bar labelled."""
    plt = _pyplot()
    base = table.loc[table["checkpoint"] == "base", column]
    trials = table[table["checkpoint"] != "base"].dropna(subset=[column])
    values = [*trials[column], *base]
    low, high = _fitted_range(values)
    fig, ax = plt.subplots(figsize=(max(5.5, 0.8 * len(trials) + 2), 3.5))  # title fits
    bars = ax.bar(trials["checkpoint"].astype(str), trials[column], color="#3b75af")
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    if len(base):
        ax.axhline(float(base.iloc[0]), color="#888888", linestyle="--",
                   label=f"base {float(base.iloc[0]):.2f}")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_ylim(low, high)
    task, _, metric = column.partition("/")
    direction = "higher" if _higher_is_better(column) else "lower"
    ax.set_ylabel(f"{metric} (0-100, {direction} is better)")
    ax.set_title(f"{task}: {metric} per trial vs base")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fitted_range(values: list[float]) -> tuple[float, float]:
    """A y range around the values with room for labels, clipped to the 0-100 scale."""
    low, high = min(values), max(values)
    margin = max((high - low) * 0.25, 0.5)
    return max(0.0, low - margin), min(100.0, high + margin)


LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P")


def plot_losses(run_dir: Path, path: Path) -> None:
    """Training and validation loss against step: one colour, marker and line style per
    trial, so that no curve hides another; validation solid-filled, train hollow markers."""
    plt = _pyplot()
    fig, (val_ax, train_ax) = plt.subplots(1, 2, figsize=(9, 3.5), sharex=True)
    for index, trial in enumerate(read_trials(run_dir)):
        history = pd.DataFrame(trial.history)
        if history.empty:
            continue
        style = {"linestyle": LINE_STYLES[index % len(LINE_STYLES)],
                 "marker": MARKERS[index % len(MARKERS)], "label": trial.trial_id}
        val_ax.plot(history["step"], history["val_loss"], **style)
        train_ax.plot(history["step"], history["train_loss"], fillstyle="none", **style)
    for ax, name in ((val_ax, "validation"), (train_ax, "train")):
        ax.set_title(f"{name} loss per trial")
        ax.set_xlabel("step")
        ax.set_ylabel(f"{name} loss")
    val_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def metric_plot_columns(table: pd.DataFrame) -> list[str]:
    """Every `task/metric` column of the leaderboard: one chart each."""
    return [str(c) for c in table.columns if "/" in str(c)]


@dataclass(frozen=True)
class Example:
    """One held-out prompt with its reference and the base's and a trial's completions."""

    task: str
    context: str  # the prompt's last line: what the completion continues
    reference: str
    base: str
    tuned: str


def example_completions(run_dir: Path, trial_id: str, step: Any = None,
                        limit: int = 3) -> list[Example]:
    """The first `limit` held-out examples, in the evaluation's order, on which `trial_id`'s
    completion (at `step`, else its last scored step) differs from the base's (the first
    ones, not the most flattering). Result files are named by content hash; their rows say
    which checkpoint, step and task they hold."""
    rows = _result_rows(run_dir)
    if rows.empty:
        return []
    base = rows[rows["checkpoint"] == "base"]
    tuned = rows[rows["checkpoint"] == trial_id]
    if base.empty or tuned.empty:
        return []
    wanted = step if step is not None and pd.notna(step) else tuned["step"].max()
    tuned = tuned[tuned["step"] == wanted]
    pairs = base.merge(tuned, on=["task", "id"], suffixes=("_base", "_tuned"), sort=False)
    differ = pairs[pairs["prediction_base"] != pairs["prediction_tuned"]]
    return [Example(task=str(row["task"]), context=_last_line(str(row["prompt_base"])),
                    reference=str(row["reference_base"]), base=str(row["prediction_base"]),
                    tuned=str(row["prediction_tuned"]))
            for _, row in differ.head(limit).iterrows()]


def base_margins(run_dir: Path, table: pd.DataFrame, sort_col: str) -> dict[str, Margin]:
    """Each trial's margin over the base on the ranking column (at the step the table shows),
    where that metric's score is the mean of its stored per-example values."""
    if "/" not in sort_col or table.empty:
        return {}
    task, metric = sort_col.split("/", 1)
    rows = _result_rows(run_dir, extra=[metric])
    rows = rows[rows["task"] == task] if metric in rows else rows.iloc[0:0]
    scores = table.set_index("checkpoint")[sort_col]
    base = _per_example(rows[rows["checkpoint"] == "base"], metric, scores.get("base"))
    if base is None:
        return {}
    margins = {}
    for _, row in table[table["checkpoint"] != "base"].iterrows():
        tuned = rows[rows["checkpoint"] == row["checkpoint"]]
        # the rows of the step the table shows; a final-only evaluation's rows have no step
        at_step = tuned[tuned["step"] == row["step"]] if pd.notna(row.get("step")) else tuned[:0]
        tuned = at_step if len(at_step) else tuned
        values = _per_example(tuned, metric, row[sort_col])
        margin = paired_margin(base, values) if values is not None else None
        if margin is not None:
            margins[str(row["checkpoint"])] = margin
    return margins


def _per_example(rows: pd.DataFrame, metric: str, corpus: Any) -> pd.Series | None:
    """The per-example values by id, or None unless they are exactly what the leaderboard's
    number averages (one row per example; a stale result file would break that)."""
    if rows.empty or corpus is None or pd.isna(corpus) or rows["id"].duplicated().any():
        return None
    values = rows.set_index("id")[metric].astype(float)
    return values if is_mean_of_examples(corpus, values) else None


def _result_rows(run_dir: Path, extra: list[str] | None = None) -> pd.DataFrame:
    wanted = ["id", "task", "prompt", "reference", "prediction", "checkpoint", "step"]
    frames = [_read_columns(path, [*wanted, *(extra or [])])
              for path in sorted(results_dir(run_dir).glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=wanted)


def _read_columns(path: Path, columns: list[str]) -> pd.DataFrame:
    """The columns of a result file that it has (a metric is a column only where scored)."""
    import pyarrow.parquet as pq

    present = set(pq.read_schema(path).names)
    return pd.read_parquet(path, columns=[c for c in columns if c in present])


def _last_line(prompt: str) -> str:
    return prompt.splitlines()[-1] if prompt.strip() else ""


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
    note = ranking_note(run_dir, table, sort_col)
    margins = base_margins(run_dir, table, sort_col)
    board = Leaderboard(table, sort_col, best, header_line(run_dir, sort_col),
                        [note] if note else [], margins)
    best_margin = margins.get(str(best.get("checkpoint")))
    if best_margin is not None:
        board.notes.append(
            f"best vs base: {best_margin.describe(short_name(sort_col, task_count(table)))}")
    write_markdown(board, out / "leaderboard.md")
    for column in metric_plot_columns(table):
        plot_metric(table, column, out / f"eval_{column.replace('/', '_')}.png")
    plot_losses(run_dir, out / "loss_curves.png")
    plot_eval_steps(run_dir, out)
    return board
