"""The live sweep table: rows from Tune's trial state, states in the leaderboard's words, and a
table that fits 100 columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from codesweep.cli.tables import trial_board_table
from codesweep.tune.trial_board import trial_row, trial_state


@dataclass
class FakeTrial:
    trial_id: str
    status: str
    config: dict[str, Any] = field(default_factory=dict)
    last_result: dict[str, Any] = field(default_factory=dict)


def test_states_match_the_leaderboard() -> None:
    assert trial_state("TERMINATED", 300, 300) == "finished"
    assert trial_state("TERMINATED", 120, 300) == "stopped early"
    assert trial_state("ERROR", 60, 300) == "failed"
    assert trial_state("RUNNING", 60, 300) == "running"
    assert trial_state("PENDING", None, 300) == "pending"


def test_row_takes_losses_and_latest_eval_metric() -> None:
    trial = FakeTrial("a1b2c_00001", "RUNNING", {"lora.r": 32, "optim.lr": 0.005},
                      {"step": 120, "train_loss": 2.5, "val_loss": 2.75,
                       "eval.line_completion.edit_sim": 41.25})
    row = trial_row(trial, 300)
    assert (row.step, row.train_loss, row.val_loss) == (120, 2.5, 2.75)
    assert row.eval_metric == ("line_completion.edit_sim", 41.25)
    assert row.params == {"lora.r": 32, "optim.lr": 0.005} and row.state == "running"


def test_table_fits_100_columns() -> None:
    trials = [FakeTrial(f"a1b2c_0000{i}", status, {"lora.r": 64, "optim.lr": 0.00731,
                                                   "data.window": 128},
                        {"step": 240, "train_loss": 2.123, "val_loss": 2.456,
                         "eval.line_completion.edit_sim": 44.4})
              for i, status in enumerate(["RUNNING", "TERMINATED", "ERROR", "PENDING"])]
    console = Console(width=100, record=True, force_terminal=True)
    console.print(trial_board_table([trial_row(t, 300) for t in trials]))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "240/300" in text and "stopped early" in text and "edit_sim 44.4" in text


def test_timings_list_each_trial_under_the_sweep() -> None:
    from codesweep.cli.tables import timings_table

    rows = [trial_row(FakeTrial("a_00000", "TERMINATED", {}, {"step": 120,
                                                               "time_total_s": 21.5}), 300)]
    console = Console(width=100, record=True)
    console.print(timings_table({"prepare": 10.0, "sweep": 30.0, "evaluate": 5.25}, rows))
    lines = [line.split() for line in console.export_text().splitlines() if line.strip()]
    assert ["trial", "a_00000", "(stopped", "early)", "21.5"] in lines
    assert ["total", "45.2"] in lines or ["total", "45.3"] in lines
    names = [line[0] for line in lines]
    assert names.index("prepare") < names.index("sweep") < names.index("trial")
