"""Sweep state without Ray: which sweeps a command reuses, resumes or starts afresh, how
SIGINT/SIGTERM reach Tune, and how trial statuses are read from a result grid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest

from codesweep.errors import CodesweepError
from codesweep.locks import Holder
from codesweep.sweep_state import (
    STATE,
    choose_action,
    clear_old_sweep,
    read_state,
    stop_on_signals,
    write_state,
)
from codesweep.tune.sweep import SWEEP_NAME, collect_trials

KEY = "k1"


def restorable(run_dir: Path) -> None:
    """What Tune's can_restore looks for."""
    (run_dir / SWEEP_NAME).mkdir(parents=True)
    (run_dir / SWEEP_NAME / "tuner.pkl").write_bytes(b"x")


def dead_driver_state(run_dir: Path) -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    driver = asdict(Holder.me()) | {"pid": int(child.stdout), "pid_start": None}
    (run_dir / STATE).write_text(json.dumps({"status": "running", "sweep_key": KEY,
                                             "driver": driver}))


def test_interrupted_sweep_is_resumed_by_a_plain_rerun(tmp_path: Path) -> None:
    restorable(tmp_path)
    write_state(tmp_path, "interrupted", KEY)
    action, line = choose_action(tmp_path, KEY, current=False, resume=False, restart=False)
    assert action == "resume"
    assert "was interrupted" in line and "--restart" in line


def test_sweep_of_a_killed_driver_is_resumed(tmp_path: Path) -> None:
    restorable(tmp_path)
    dead_driver_state(tmp_path)
    action, line = choose_action(tmp_path, KEY, current=False, resume=False, restart=False)
    assert action == "resume"
    assert "stopped with its driver" in line


def test_running_sweep_of_a_live_driver_is_not_taken_for_unfinished(tmp_path: Path) -> None:
    restorable(tmp_path)
    write_state(tmp_path, "running", KEY)  # this process: alive
    assert read_state(tmp_path).unfinished() is False
    assert choose_action(tmp_path, KEY, False, False, False)[0] == "fresh"


def test_other_sweep_key_or_restart_starts_afresh(tmp_path: Path) -> None:
    restorable(tmp_path)
    write_state(tmp_path, "interrupted", KEY)
    assert choose_action(tmp_path, "other", False, False, False)[0] == "fresh"
    assert choose_action(tmp_path, KEY, False, False, restart=True)[0] == "fresh"


def test_finished_sweep_is_reused_and_resume_needs_a_sweep(tmp_path: Path) -> None:
    write_state(tmp_path, "done", KEY)
    assert choose_action(tmp_path, KEY, current=True, resume=False, restart=False)[0] == "reuse"
    with pytest.raises(CodesweepError, match="no sweep to resume"):
        choose_action(tmp_path, KEY, current=True, resume=True, restart=False)


def test_clear_old_sweep_removes_trial_directories(tmp_path: Path) -> None:
    restorable(tmp_path)
    (tmp_path / "train" / "t1").mkdir(parents=True)
    (tmp_path / "run.json").write_text("{}")
    clear_old_sweep(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_trial_directories_no_finished_trial_owns_are_removed(tmp_path: Path) -> None:
    """A killed run's trial that Tune never recorded is replaced under a new id on the
    rerun; its directory goes once the sweep finishes, so train/ matches trials.json."""
    from codesweep.records import TrialResult
    from codesweep.tune.sweep import remove_unrecorded_trials

    train = tmp_path / "train"
    for name in ("a1", "b2", "lost9"):
        (train / name / "checkpoint_000000").mkdir(parents=True)
    (train / ".validate_storage_marker").write_text("")  # Ray Train's, not a trial
    trials = [TrialResult(trial_id=name, params={}, status=status, final={}, history=[])
              for name, status in (("a1", "done"), ("b2", "error"))]
    assert remove_unrecorded_trials(str(train), trials) == ["lost9"]
    assert sorted(p.name for p in train.iterdir()) == [".validate_storage_marker", "a1", "b2"]
    assert remove_unrecorded_trials(str(tmp_path / "missing"), trials) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_ask_tune_to_stop_through_sigusr1(signum: int) -> None:
    received: list[int] = []
    # a shell's background job starts with SIGINT ignored: restored means as it was before
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGUSR1)}
    with stop_on_signals() as stopped:
        assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "1"
        # what Tune's loop installs while it runs
        signal.signal(signal.SIGUSR1, lambda sig, frame: received.append(sig))
        os.kill(os.getpid(), signum)
        assert stopped.is_set()
        assert received == [signal.SIGUSR1]
        with pytest.raises(KeyboardInterrupt):  # a second signal does not wait
            os.kill(os.getpid(), signum)
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert "TUNE_DISABLE_SIGINT_HANDLER" not in os.environ


def test_signal_before_tune_listens_interrupts_at_once() -> None:
    with stop_on_signals() as stopped, pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)  # a SIGUSR1 now would kill the process
    assert not stopped.is_set()


def test_tunes_stop_signal_warning_is_replaced_by_our_own_line(monkeypatch) -> None:
    """Tune's real SIGUSR1 handler logs "Stop signal received ..."; the sweep says it once in
    its own words (`interrupted_message`), so that warning stays off the terminal."""
    import logging

    from ray.tune.tune import _setup_signal_catching

    from codesweep.tune.sweep import tune_output

    monkeypatch.delenv("CODESWEEP_VERBOSE", raising=False)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    tune_logger = logging.getLogger("ray.tune.tune")
    tune_logger.addHandler(handler)
    try:
        with stop_on_signals() as stopped, tune_output():
            interrupted_event = _setup_signal_catching()  # what Tuner.fit() installs
            os.kill(os.getpid(), signal.SIGINT)
            assert stopped.is_set() and interrupted_event.is_set()
        assert not any(m.startswith("Stop signal received") for m in seen)
        tune_logger.warning("Stop signal received outside the sweep")  # the filter is gone
        assert seen == ["Stop signal received outside the sweep"]
    finally:
        tune_logger.removeHandler(handler)


def grid(*trials: tuple[str, str, Exception | None]) -> object:
    """A stand-in for a ResultGrid: results and, privately, Tune's trials."""
    results = [SimpleNamespace(metrics={}, metrics_dataframe=None, path=f"/s/driver_{tid}_0",
                               config={}, error=error) for tid, _, error in trials]
    analysis = SimpleNamespace(trials=[SimpleNamespace(status=s, trial_id=tid)
                                       for tid, s, _ in trials])
    return type("Grid", (), {"__iter__": lambda self: iter(results),
                             "_experiment_analysis": analysis})()


def test_trials_stopped_by_an_interrupt_are_unfinished_not_done() -> None:
    trials = collect_trials(grid(("a", "TERMINATED", None), ("b", "RUNNING", None),
                                 ("c", "PENDING", None), ("d", "ERROR", ValueError("x"))))
    assert [t.status for t in trials] == ["done", "unfinished", "unfinished", "error"]
    assert [t.trial_id for t in trials] == ["a", "b", "c", "d"]  # never-reported ones too


def test_trial_error_is_the_workers_first_line_not_a_truncated_tail() -> None:
    from ray.train import WorkerGroupError

    from codesweep.tune.sweep import TrialFailed, _last_line, worker_failure_line

    cause = OSError("Error creating dataset. Could not read schema from '/c/part-0.parquet'. "
                    "Is this a 'parquet' file?\n  more detail")
    message = "Traceback ...\n" + "x" * 600 + "...\n(Output truncated)...\n" + "y" * 400
    error = WorkerGroupError(message, {1: ValueError("rank 1"), 0: cause})
    line = worker_failure_line(error)
    assert line == ("OSError: Error creating dataset. Could not read schema from "
                    "'/c/part-0.parquet'. Is this a 'parquet' file?")
    # how Tune shows the trial's error: the remote traceback, then the exception's line
    remote = (f"ray::trial_driver() (pid=1)\n  File \"sweep.py\", line 9\n"
              f"{TrialFailed.__module__}.{TrialFailed.__name__}: {line}\n")
    assert _last_line(RuntimeError(remote)) == line
