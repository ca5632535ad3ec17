"""What the sweep shows while it runs: one row per trial, built from Tune's own trial state and
handed to a callback (the CLI draws it as a live table; nothing here prints)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EVAL_PREFIX = "eval."  # in-training evaluation reports `eval.<task>.<metric>`


@dataclass(frozen=True)
class TrialRow:
    """One trial as the live table shows it."""

    trial_id: str
    params: dict[str, Any]
    step: int | None
    max_steps: int
    train_loss: float | None
    val_loss: float | None
    eval_metric: tuple[str, float] | None  # the latest `eval.<task>.<metric>` reported
    state: str  # pending / running / finished / stopped early / failed
    seconds: float | None = None  # the trial's wall time so far (Tune's time_total_s)


def trial_state(status: str, step: int | None, max_steps: int) -> str:
    """Tune's status in the leaderboard's words: TERMINATED before the last step is a stop."""
    if status == "TERMINATED":
        return "finished" if step is not None and step >= max_steps else "stopped early"
    return {"ERROR": "failed", "RUNNING": "running", "PAUSED": "paused"}.get(status, "pending")


def trial_row(trial: Any, max_steps: int) -> TrialRow:
    """The row of one Tune Trial (its config and last reported result)."""
    result = trial.last_result or {}
    step = result.get("step")
    evals = [(key[len(EVAL_PREFIX):], value) for key, value in result.items()
             if key.startswith(EVAL_PREFIX) and isinstance(value, int | float)]
    return TrialRow(
        trial_id=trial.trial_id, params=dict(trial.config or {}),
        step=None if step is None else int(step), max_steps=max_steps,
        train_loss=result.get("train_loss"), val_loss=result.get("val_loss"),
        eval_metric=evals[-1] if evals else None,
        state=trial_state(trial.status, None if step is None else int(step), max_steps),
        seconds=result.get("time_total_s"))


def board_callback(on_rows: Callable[[list[TrialRow]], None], max_steps: int) -> Any:
    """A Tune Callback that calls `on_rows` with every trial's row whenever one changes, and
    once more when the sweep ends."""
    from ray.tune import Callback

    class TrialBoard(Callback):
        def __init__(self) -> None:
            self.shown: list[TrialRow] = []

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            rows = [trial_row(trial, max_steps) for trial in trials]
            if rows != self.shown:  # Tune steps many times a second; redraw on change only
                self.shown = rows
                on_rows(rows)

        def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
            self.shown = [trial_row(trial, max_steps) for trial in trials]
            on_rows(self.shown)

    return TrialBoard()
