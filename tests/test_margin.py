"""How sure a trial beats the base: the paired bootstrap margin over the held-out examples,
in the leaderboard's notes and in leaderboard.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from test_leaderboard import make_finished_run

from codesweep.cli.tables import render_leaderboard
from codesweep.evaluation.margin import paired_margin
from codesweep.records import EvaluationRecord
from codesweep.report import build_report
from codesweep.rundir import results_dir, write_summary

N = 200


def _edit_values(shift: float, seed: int) -> np.ndarray:
    """Per-example edit similarities around 40, moved by `shift`, kept on 0-100."""
    rng = np.random.default_rng(seed)
    return np.clip(40 + shift + rng.normal(0, 5, N), 0, 100)


def _store(run_dir: Path, checkpoint: str, edit: np.ndarray, bleu: np.ndarray,
           number: int) -> None:
    results = results_dir(run_dir)
    results.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": [f"i{i:03d}" for i in range(N)], "prompt": ["x = "] * N,
                  "reference": ["1"] * N, "prediction": ["1"] * N,
                  "exact_match": np.zeros(N), "edit_sim": edit, "bleu": bleu,
                  "checkpoint": checkpoint, "step": None, "task": "line_completion"}
                 ).to_parquet(results / f"{number}c0ffee.parquet")


@pytest.fixture
def scored_run(tmp_path: Path) -> Path:
    """A finished run whose summary is the mean of its stored per-example rows (edit_sim),
    while BLEU is a corpus score that is not the mean of its per-example values."""
    run_dir = make_finished_run(tmp_path / "run", tmp_path / "suite.yaml")
    base = _edit_values(0.0, seed=1)
    shifted = {"t1": base + 3.0, "t2": base + 3.0 + _edit_values(0, 2) - 40, "t3": base}
    records = [EvaluationRecord(checkpoint="base", task="line_completion", n=N, scores={
        "exact_match": 0.0, "edit_sim": float(base.mean()), "bleu": 5.0})]
    _store(run_dir, "base", base, np.full(N, 1.0), 0)
    for number, (trial, edit) in enumerate(shifted.items(), start=1):
        _store(run_dir, trial, edit, np.full(N, 2.0), number)
        records.append(EvaluationRecord(checkpoint=trial, task="line_completion", n=N, scores={
            "exact_match": 0.0, "edit_sim": float(edit.mean()), "bleu": 9.0}))
    write_summary(run_dir, records)
    return run_dir


def test_margin_is_the_leaderboard_difference_with_an_interval(scored_run: Path) -> None:
    board = build_report(scored_run)
    table = board.table.set_index("checkpoint")["line_completion/edit_sim"]
    t1, t3 = board.margins["t1"], board.margins["t3"]
    assert t1.mean == pytest.approx(table["t1"] - table["base"])  # exactly +3 on every example
    assert (t1.low, t1.high, t1.better, t1.worse, t1.n) == pytest.approx((3, 3, N, 0, N))
    assert (t3.mean, t3.better, t3.worse) == (0.0, 0, 0)  # the base's own numbers
    t2 = board.margins["t2"]  # +3 on average, with noise: the interval spans it, not 0
    assert t2.low < t2.mean < t2.high and t2.low > 0
    assert t2.mean == pytest.approx(table["t2"] - table["base"])


def test_best_trials_margin_is_a_note_and_every_trials_is_in_the_markdown(
        scored_run: Path) -> None:
    board = build_report(scored_run)
    best = board.best["checkpoint"]
    margin = board.margins[best]
    assert board.notes[-1] == (
        f"best vs base: edit {margin.mean:+.2f}, 95% CI {margin.low:+.2f} to "
        f"{margin.high:+.2f} (paired bootstrap, {N} examples; {margin.better} better, "
        f"{margin.worse} worse)")
    console = Console(width=100, record=True, force_terminal=True)
    render_leaderboard(console, board)
    assert "best vs base: edit" in console.export_text()
    text = (scored_run / "report" / "leaderboard.md").read_text()
    assert "## Against the base: line_completion/edit_sim" in text
    for trial in ("t1", "t2", "t3"):
        m = board.margins[trial]
        assert (f"| {trial} | {m.mean:+.2f} | {m.low:+.2f} | {m.high:+.2f} | {m.better} | "
                f"{m.worse} | {N} |") in text


def test_no_margin_for_a_corpus_metric_or_rows_that_do_not_match_the_summary(
        scored_run: Path) -> None:
    from codesweep.report import base_margins

    table = build_report(scored_run).table
    assert base_margins(scored_run, table, "line_completion/bleu") == {}  # corpus-level BLEU
    # A second result file for the base (another evaluation's rows, here with the same
    # mean) leaves the margin out rather than pairing examples twice.
    _store(scored_run, "base", _edit_values(0.0, seed=1), np.full(N, 1.0), 9)
    assert base_margins(scored_run, table, "line_completion/edit_sim") == {}


def test_paired_margin_counts_shared_examples_and_is_reproducible() -> None:
    base = pd.Series([10.0, 20.0, 30.0, 40.0], index=["a", "b", "c", "d"])
    tuned = pd.Series([15.0, 20.0, 25.0, 60.0, 99.0], index=["a", "b", "c", "d", "e"])
    first, again = paired_margin(base, tuned), paired_margin(base, tuned)
    assert first == again  # a fixed seed: the same report twice gives the same interval
    assert first is not None and (first.n, first.better, first.worse) == (4, 2, 1)
    assert first.mean == pytest.approx((5 + 0 - 5 + 20) / 4)
    assert paired_margin(base.iloc[:1], tuned) is None  # one example: no interval
