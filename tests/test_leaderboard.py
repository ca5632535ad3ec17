"""The leaderboard answers "which checkpoint, how sure": primary metric first, status and
step per row, direction and scale stated, disagreeing rankings named, fits 100 columns."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rich.console import Console

from codesweep.cli.tables import render_leaderboard
from codesweep.config.schema import TuningRecipe
from codesweep.records import EvaluationRecord, PreparedDataRef, RunRecord, TrialResult
from codesweep.report import _fitted_range, build_report
from codesweep.rundir import write_recipe, write_run, write_summary, write_trials

SUITE = {"name": "s", "primary_metric": "edit_sim",
         "tasks": [{"name": "line_completion", "dataset": "completion", "split": "test",
                    "metrics": ["exact_match", "edit_sim", "bleu"]}]}


def _trial(trial_id: str, step: int, val_loss: float, status: str = "done") -> TrialResult:
    history = [{"step": s, "train_loss": 3.0 - s / 100, "val_loss": val_loss + 1 - s / 300}
               for s in range(60, step + 1, 60)]
    return TrialResult(trial_id=trial_id, params={"lora.r": 16, "optim.lr": 0.005},
                       status=status, final={"step": step, "val_loss": val_loss},
                       history=history, checkpoint=f"/ckpt/{trial_id}")


def _scores(em: float, edit: float, bleu: float) -> dict[str, float]:
    return {"exact_match": em, "edit_sim": edit, "bleu": bleu}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished run: base and three trials; t1 is best by val_loss, t2 by edit_sim."""
    return make_finished_run(tmp_path / "run", tmp_path / "suite.yaml")


def make_finished_run(run_dir: Path, suite: Path) -> Path:
    """A finished run in `run_dir` scored on the suite written to `suite`."""
    suite.write_text(yaml.safe_dump(SUITE))
    recipe = TuningRecipe.model_validate({
        "name": "t", "pipeline": "p.yaml", "train": {"max_steps": 300, "report_every": 60},
        "sweep": {"metric": "val_loss", "mode": "min"}})
    write_recipe(run_dir, recipe)
    write_run(run_dir, RunRecord(
        name="t", recipe="t.yaml", eval=str(suite), prepared=PreparedDataRef(root="/d", key="k"),
        base_path="/base", sweep_key="k", tracking_uri="sqlite:///x.db", experiment="t",
        codesweep_version="test", primary_metric="edit_sim"))
    write_trials(run_dir, [_trial("t1", 300, 1.5), _trial("t2", 300, 1.7),
                           _trial("t3", 120, 2.5)])
    write_summary(run_dir, [
        EvaluationRecord(checkpoint=c, task="line_completion", n=400, scores=_scores(*s))
        for c, s in [("base", (0.0, 40.0, 5.0)), ("t1", (1.0, 45.0, 9.0)),
                     ("t2", (0.5, 46.6, 8.0)), ("t3", (0.0, 42.0, 6.0))]])
    return run_dir


def test_primary_metric_first_with_status_step_split_and_n(run_dir: Path) -> None:
    board = build_report(run_dir)
    columns = list(board.table.columns)
    assert columns[:5] == ["checkpoint", "status", "step", "split", "n"]
    assert columns[5:8] == ["line_completion/edit_sim", "line_completion/exact_match",
                            "line_completion/bleu"]  # primary, then the suite's order
    rows = board.table.set_index("checkpoint")
    assert list(board.table["checkpoint"]) == ["t2", "t1", "t3", "base"]
    assert rows.loc["t3", "status"] == "stopped early at 120"
    assert rows.loc["t1", "status"] == "finished" and rows.loc["base", "status"] == "base"
    assert rows.loc["t1", "split"] == "test" and rows.loc["t1", "n"] == 400


def test_header_states_direction_and_scale(run_dir: Path) -> None:
    board = build_report(run_dir)
    assert "higher is better" in board.header and "0-100" in board.header
    markdown = (run_dir / "report" / "leaderboard.md").read_text()
    assert "higher is better" in markdown and "| stopped early at 120 |" in markdown


def test_disagreeing_rankings_get_one_note(run_dir: Path) -> None:
    board = build_report(run_dir)
    assert board.notes == ["note: the sweep ranked t1 first by val_loss (min); "
                           "by line_completion/edit_sim t2 is first"]
    assert board.notes[0] in (run_dir / "report" / "leaderboard.md").read_text()


def test_a_tie_on_the_primary_metric_is_broken_by_the_sweep_metric(run_dir: Path) -> None:
    write_trials(run_dir, [_trial("t1", 300, 1.5), _trial("t2", 300, 1.2),
                           _trial("t3", 300, 1.7)])  # the sweep ranks t2 first
    write_summary(run_dir, [
        EvaluationRecord(checkpoint=c, task="line_completion", n=400, scores=_scores(*s))
        for c, s in [("base", (0.0, 40.0, 5.0)), ("t1", (1.0, 45.0, 9.0)),
                     ("t2", (0.5, 46.6, 8.0)), ("t3", (0.0, 46.6, 6.0))]])
    board = build_report(run_dir)
    assert list(board.table["checkpoint"]) == ["t2", "t3", "t1", "base"]  # t2, t3 tie at 46.6
    assert board.notes == []  # the sweep's first is the leaderboard's first


def test_no_differing_example_is_said_not_left_blank() -> None:
    from codesweep.cli.tables import print_examples

    console = Console(width=100, record=True)
    print_examples(console, [], "t1")
    assert "base and t1 complete every held-out line the same way" in console.export_text()


def test_lower_is_better_metric_ranks_ascending(run_dir: Path) -> None:
    run = (run_dir / "run.json").read_text().replace('"primary_metric": "edit_sim"',
                                                      '"primary_metric": "wer"')
    (run_dir / "run.json").write_text(run)
    write_summary(run_dir, [
        EvaluationRecord(checkpoint=c, task="line_completion", n=4, scores={"wer": w})
        for c, w in [("base", 80.0), ("t1", 50.0), ("t2", 60.0), ("t3", 70.0)]])
    board = build_report(run_dir)
    assert list(board.table["checkpoint"]) == ["t1", "t2", "t3", "base"]
    assert "lower is better" in board.header and board.notes == []


def test_table_fits_100_columns_without_breaking_headers(run_dir: Path) -> None:
    console = Console(width=100, record=True, force_terminal=True)
    render_leaderboard(console, build_report(run_dir))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    header = next(line for line in text.splitlines() if "checkpoint" in line)
    for name in ("checkpoint", "status", "edit", "bleu", "EM", "val_loss"):
        assert f" {name} " in header


def test_one_plot_per_task_metric_and_loss_curves(run_dir: Path) -> None:
    build_report(run_dir)
    report = run_dir / "report"
    for name in ("edit_sim", "exact_match", "bleu"):
        assert (report / f"eval_line_completion_{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert (report / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_metric_axis_fits_the_values_not_zero() -> None:
    low, high = _fitted_range([40.0, 45.0, 46.6, 42.0])
    assert 35 < low < 40 and 46.6 < high < 50  # a 1.6-point gap is not flattened
    assert _fitted_range([0.0, 0.5]) == (0.0, 1.0)  # never below 0 on a 0-100 scale


def test_examples_are_the_first_held_out_lines_where_models_differ(run_dir: Path) -> None:
    import pandas as pd

    from codesweep.report import example_completions
    from codesweep.rundir import results_dir

    results = results_dir(run_dir)
    results.mkdir(parents=True)
    prompts = [f"def f{i}(x):\n    y = x" for i in range(5)]
    scored = (("base", None, ["a", "b", "c", "d", "e"]), ("t2", 60, ["a", "b", "x", "d", "e"]),
              ("t2", 120, ["a", "B", "c", "D", "E"]))
    for number, (checkpoint, step, predictions) in enumerate(scored):
        pd.DataFrame({"id": [f"i{i}" for i in range(5)], "prompt": prompts,
                      "reference": ["r"] * 5, "prediction": predictions,
                      "checkpoint": checkpoint, "step": step, "task": "line_completion"}
                     ).to_parquet(results / f"{number}f3a9c1.parquet")  # content-hash names
    examples = example_completions(run_dir, "t2", limit=2)  # its last scored step
    assert [(e.base, e.tuned) for e in examples] == [("b", "B"), ("d", "D")]
    assert examples[0].context == "    y = x" and examples[0].task == "line_completion"
    at_60 = example_completions(run_dir, "t2", step=60)
    assert [(e.base, e.tuned) for e in at_60] == [("c", "x")]


def test_three_searched_params_still_fit_100_columns_without_breaking_words(
        run_dir: Path) -> None:
    trials = [_trial(t, s, v) for t, s, v in (("t1", 300, 1.5), ("t2", 300, 1.7),
                                              ("t3", 120, 2.5))]
    write_trials(run_dir, [t.model_copy(update={"params": {**t.params, "data.window": 128}})
                           for t in trials])
    console = Console(width=100, record=True, force_terminal=True)
    render_leaderboard(console, build_report(run_dir))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 100
    header = next(line for line in lines if "checkpoint" in line)
    assert " window " in header and " lr " in header  # last part of a dotted name
    assert " split " not in header  # every row is on split test: the title says so
    assert any("│ finished " in line for line in lines)  # not broken as "finishe" / "d"
