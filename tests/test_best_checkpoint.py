"""The best checkpoint per trial follows the sweep metric in its direction (wer: lower is
better): the leaderboard lists each trial's best step and the base, `export --trial` takes
that checkpoint unless `--step` names another, and the report plots each metric by step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from codesweep.errors import CodesweepError
from codesweep.evaluation.best import best_steps
from codesweep.export import find_checkpoint
from codesweep.records import EvaluationRecord, PreparedDataRef, RunRecord, TrialResult
from codesweep.report import build_report
from codesweep.rundir import read_summary, write_run, write_summary, write_trials

WER = {"t1": {2: 40.0, 4: 30.0, 6: 35.0}, "t2": {2: 20.0, 4: 50.0, 6: 60.0}}
VAL_LOSS = {"t1": {2: 3.0, 4: 2.0, 6: 1.0}, "t2": {2: 2.5, 4: 2.4, 6: 2.6}}


def make_run(root: Path, metric: str) -> Path:
    """A finished sweep of two trials with three kept checkpoints each, fully evaluated."""
    run_dir = root / "run"
    trials = []
    for trial, steps in WER.items():
        for step in steps:
            (run_dir / "train" / trial / f"checkpoint_{step}").mkdir(parents=True)
            torch.save({"step": step}, run_dir / "train" / trial / f"checkpoint_{step}" / "step.pt")
        trials.append(TrialResult(
            trial_id=trial, params={"optim.lr": 0.01}, status="done", final={"step": 6},
            history=[{"step": s, "val_loss": v, "train_loss": v}
                     for s, v in VAL_LOSS[trial].items()],
            checkpoint=str(run_dir / "train" / trial / "checkpoint_6")))
    write_trials(run_dir, trials)
    write_run(run_dir, RunRecord(
        name="t", recipe="t.yaml", prepared=PreparedDataRef(root="/p", key="k"), base_path="b",
        sweep_key="k", tracking_uri="sqlite:///x.db", experiment="t", codesweep_version="t",
        primary_metric="edit_sim"))
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(
        {"name": "t", "pipeline": "p.yaml", "sweep": {"metric": metric}}))
    records = [EvaluationRecord(checkpoint="base", task="comp", n=4,
                                scores={"wer": 80.0, "edit_sim": 10.0})]
    records += [EvaluationRecord(checkpoint=trial, step=step, task="comp", n=4,
                                 scores={"wer": wer, "edit_sim": 100 - wer})
                for trial, steps in WER.items() for step, wer in steps.items()]
    write_summary(run_dir, records)
    return run_dir


def test_best_step_follows_the_metric_direction(tmp_path: Path) -> None:
    assert best_steps(make_run(tmp_path / "wer", "eval.comp.wer")) == {"t1": 4, "t2": 2}
    assert best_steps(make_run(tmp_path / "es", "eval.comp.edit_sim")) == {"t1": 4, "t2": 2}
    assert best_steps(make_run(tmp_path / "loss", "val_loss")) == {"t1": 6, "t2": 4}


def test_a_best_val_loss_step_that_was_not_kept_falls_to_the_best_kept_one(
        tmp_path: Path) -> None:
    """t2's lowest val_loss is at step 4, whose checkpoint retention deleted: the leaderboard
    still lists t2, at its best scored step (2: val_loss 2.5 against 2.6 at step 6)."""
    run_dir = make_run(tmp_path, "val_loss")
    kept = [r for r in read_summary(run_dir) if not (r.checkpoint == "t2" and r.step == 4)]
    write_summary(run_dir, kept)
    assert best_steps(run_dir) == {"t1": 6, "t2": 2}
    board = build_report(run_dir)
    assert "| t2 |" in (run_dir / "report" / "leaderboard.md").read_text(), board


def test_export_takes_the_best_checkpoint_unless_a_step_is_named(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "eval.comp.wer")
    assert find_checkpoint(run_dir, "t2")[0].name == "checkpoint_2"
    assert find_checkpoint(run_dir, "t2", step=6)[0].name == "checkpoint_6"
    with pytest.raises(CodesweepError, match="--step 5: trial t2 kept no checkpoint of that "
                                             "step; kept steps: 2, 4, 6"):
        find_checkpoint(run_dir, "t2", step=5)


def test_leaderboard_lists_each_trials_best_step_and_the_base(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "eval.comp.wer")
    board = build_report(run_dir)
    table = board.table
    assert board.sort_col == "comp/wer"
    assert table["checkpoint"].tolist() == ["t2", "t1", "base"]  # wer ascending
    assert table["step"].tolist()[:2] == [2, 4]
    assert table["comp/wer"].tolist() == [20.0, 30.0, 80.0]
    assert table["val_loss"].tolist()[:2] == [2.5, 2.0]  # the loss at the best step
    report = run_dir / "report"
    assert (report / "steps_comp_wer.png").is_file()
    assert (report / "steps_comp_edit_sim.png").is_file()
    markdown = (report / "leaderboard.md").read_text()
    assert "| t2 | stopped early at 6 | 2 | - | 4 | 80 | 20 |" in markdown
