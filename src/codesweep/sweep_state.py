"""Whether a run directory's sweep is running, interrupted or done, and what a command does
about it: reuse a finished sweep, resume an unfinished one, or start afresh.

`sweep_state.json` is written before the Tuner starts ("running", with the driver's pid and
host), when it is interrupted ("interrupted") and when trials.json is written ("done"). A
"running" state whose driver has died (SIGKILL, a crash) reads as unfinished too, so a plain
rerun resumes it instead of retraining finished trials under new ids.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from codesweep.errors import CodesweepError
from codesweep.fileio import write_json
from codesweep.locks import Holder
from codesweep.storage import StorageRef

STATE = "sweep_state.json"
SWEEP_NAME = "sweep"  # Tune's experiment directory in the run dir
Action = Literal["reuse", "resume", "fresh"]


class SweepInterrupted(CodesweepError):
    """The sweep was stopped by SIGINT/SIGTERM; the command exits 130 (as for Ctrl-C)."""

    exit_code = 130


class SweepState(BaseModel):
    """sweep_state.json: the sweep's status under one sweep key, and its driver."""

    status: Literal["running", "interrupted", "done"]
    sweep_key: str
    driver: dict[str, Any]

    def unfinished(self) -> bool:
        """Interrupted, or marked running by a driver that no longer runs."""
        if self.status == "interrupted":
            return True
        return self.status == "running" and Holder(**self.driver).is_dead()


def read_state(run_dir: Path) -> SweepState | None:
    """The run dir's sweep state; None when no sweep was started here (or the file is
    unreadable: then nothing is known to resume)."""
    path = run_dir / STATE
    if not path.is_file():
        return None
    try:
        return SweepState.model_validate_json(path.read_text())
    except ValueError:
        return None


def write_state(run_dir: Path, status: str, sweep_key: str) -> None:
    """Record the sweep's status, with this process as its driver."""
    write_json(run_dir / STATE, {"status": status, "sweep_key": sweep_key,
                                 "driver": asdict(Holder.me())})


def choose_action(run_dir: Path, sweep_key: str, current: bool, resume: bool,
                  restart: bool, storage: StorageRef | None = None) -> tuple[Action, str]:
    """What to do with the run dir's sweep, and the line that tells the user.

    `current`: trials.json was produced under `sweep_key`. `--restart` always starts over;
    `--resume` and an unfinished sweep of the same key resume when Tune can restore it.
    `storage`: where Ray keeps the sweep when not in `run_dir` (an object-store root).
    """
    if restart:
        return "fresh", "sweep: starting over (--restart)"
    state = read_state(run_dir)
    restorable = can_restore(storage or run_dir)
    if resume and not restorable:
        where = storage.child(SWEEP_NAME).uri if storage else run_dir / SWEEP_NAME
        raise CodesweepError(f"{where}: no sweep to resume here; "
                             "run without --resume to start one")
    if resume:
        return "resume", "sweep: resuming (--resume)"
    unfinished = state is not None and state.sweep_key == sweep_key and state.unfinished()
    if unfinished and restorable:
        assert state is not None
        why = "was interrupted" if state.status == "interrupted" else "stopped with its driver"
        return "resume", (f"sweep: resuming the unfinished sweep (it {why}); finished trials "
                          "are kept (--restart starts over)")
    if current:
        return "reuse", "sweep: reused (recipe, data and base model unchanged)"
    return "fresh", "sweep: starting"


def can_restore(run_dir: Path | StorageRef) -> bool:
    """True when <run_dir>/sweep (a local path or a place in storage) holds an experiment
    state Tune can restore."""
    from ray import tune

    if isinstance(run_dir, StorageRef):
        experiment = run_dir.child(SWEEP_NAME)
        return tune.Tuner.can_restore(experiment.path, storage_filesystem=experiment.filesystem())
    return tune.Tuner.can_restore(str(run_dir / SWEEP_NAME))


def clear_old_sweep(run_dir: Path, storage: StorageRef | None = None) -> None:
    """Remove the sweep and train directories of an earlier sweep (in `storage` too, where
    Ray keeps them there), so a fresh sweep neither mixes its trials with old ones nor
    leaves orphaned trial directories behind."""
    for name in (SWEEP_NAME, "train"):
        if (run_dir / name).exists():
            shutil.rmtree(run_dir / name)
        if storage is not None:
            storage.child(name).delete_tree()


def _tune_not_listening(signum: int, frame: Any) -> None:
    """SIGUSR1 before Tune's loop has started (or after it ended): nothing to stop."""


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """For the block: SIGINT and SIGTERM ask Ray Tune to stop gracefully (Tune listens for
    SIGUSR1 while its loop runs: it then saves its experiment state and returns) and set the
    event the caller checks afterwards. Outside Tune's loop, and on a second signal, they
    interrupt at once (KeyboardInterrupt)."""
    stopped = threading.Event()
    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
    previous = {sig: signal.getsignal(sig) for sig in watched}

    def ask_tune_to_stop(signum: int, frame: Any) -> None:
        if stopped.is_set() or signal.getsignal(signal.SIGUSR1) is _tune_not_listening:
            raise KeyboardInterrupt
        stopped.set()
        os.kill(os.getpid(), signal.SIGUSR1)

    # Tune would otherwise replace our SIGINT handler with its own for the duration of fit()
    old_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    signal.signal(signal.SIGINT, ask_tune_to_stop)
    signal.signal(signal.SIGTERM, ask_tune_to_stop)
    signal.signal(signal.SIGUSR1, _tune_not_listening)  # Tune installs its own in fit()
    try:
        yield stopped
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if old_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = old_env


def interrupted_message(command: str) -> str:
    """The one line an interrupted sweep ends with."""
    return (f"sweep interrupted; finished trials are kept. Continue with the same command "
            f"({command}); --restart starts over")
