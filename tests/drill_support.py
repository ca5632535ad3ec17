"""Fault-drill scaffolding: a real `python -m codesweep run` on a tiny recipe in a temporary
workspace, watched until a condition holds (a line of output, a file), then interrupted
(SIGINT as Ctrl-C sends it, SIGTERM) or crashed (SIGKILL), and its exit code and output
collected.

    workspace = tiny_workspace(tmp_path, num_trials=3)
    with start_run(workspace) as drill:
        drill.wait_for(lambda: trials_with_checkpoints(workspace.run_dir), "a checkpoint")
        drill.interrupt()
        result = drill.finish()
    assert result.returncode == 130

A drill's processes run in their own session (process group): `interrupt` signals the group,
as a terminal's Ctrl-C does; `kill` SIGKILLs the driver alone, as a crash would, and leaving
the block kills whatever of the group is left so that no drill outlives its test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import yaml

SRC = Path(__file__).resolve().parents[1] / "src"
STDLIB = Path(sysconfig.get_paths()["stdlib"])
POLL_S = 0.2


class DrillTimeout(AssertionError):
    """The condition did not hold in time (or the process ended first); has the output tail."""


@dataclass(frozen=True)
class Workspace:
    """A tiny experiment: a git corpus, the three recipes, where the run and cache go."""

    root: Path
    recipe: Path
    run_dir: Path
    cache_dir: Path


@dataclass(frozen=True)
class DrillResult:
    returncode: int
    output: str


class Drill:
    """A running command whose combined stdout and stderr go to a log file (no pipe to fill)."""

    def __init__(self, command: list[str], log_path: Path, cwd: Path,
                 env: dict[str, str]) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)

    def output(self) -> str:
        """Everything the command has printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, condition: Callable[[], bool] | str, what: str,
                 timeout_s: float = 300.0) -> None:
        """Wait until `condition()` holds, or until a regex `condition` matches the output;
        raise DrillTimeout naming `what` when it times out or the command ends first."""
        check = condition if callable(condition) else self._matches(condition)
        deadline = time.monotonic() + timeout_s
        while not check():
            if self.process.poll() is not None:
                raise self._timeout(f"the command exited ({self.process.returncode}) before "
                                    f"{what}")
            if time.monotonic() > deadline:
                raise self._timeout(f"no {what} within {timeout_s:.0f} s")
            time.sleep(POLL_S)

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the whole process group."""
        self._signal_group(signal.SIGINT)

    def terminate(self) -> None:
        """SIGTERM to the driver, as `kill PID` or a batch scheduler sends it."""
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """A crash: SIGKILL to the driver alone; what it started is left to fend for itself."""
        self.process.send_signal(signal.SIGKILL)

    def finish(self, timeout_s: float = 120.0) -> DrillResult:
        """Wait for the command to exit; its exit code and full output."""
        try:
            returncode = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise self._timeout(f"the command did not exit within {timeout_s:.0f} s") from None
        return DrillResult(returncode, self.output())

    def close(self) -> None:
        """Kill whatever of the drill's process group is still running; close the log."""
        self._signal_group(signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        self._log.close()

    def _signal_group(self, signum: int) -> None:
        with suppress(ProcessLookupError):  # the group has ended already
            os.killpg(self.process.pid, signum)

    def _matches(self, pattern: str) -> Callable[[], bool]:
        regex = re.compile(pattern, re.MULTILINE)
        return lambda: regex.search(self.output()) is not None

    def _timeout(self, message: str) -> DrillTimeout:
        tail = "\n".join(self.output().splitlines()[-40:])
        return DrillTimeout(f"{message}; last output:\n{tail}")


@contextmanager
def start(command: list[str], cwd: Path, log_path: Path | None = None,
          env: dict[str, str] | None = None) -> Iterator[Drill]:
    """Run `command` as a drill for the block; nothing of it survives the block."""
    drill = Drill(command, log_path or cwd / "drill.log", cwd, env or drill_env())
    try:
        yield drill
    finally:
        drill.close()


def start_run(workspace: Workspace, *args: str) -> AbstractContextManager[Drill]:
    """`python -m codesweep run <recipe> --run-dir ... --cache-dir ... <args>` as a drill."""
    command = [sys.executable, "-m", "codesweep", "run", str(workspace.recipe),
               "--run-dir", str(workspace.run_dir), "--cache-dir", str(workspace.cache_dir),
               *args]
    return start(command, workspace.root, workspace.root / f"run-{time.time_ns()}.log")


def drill_env() -> dict[str, str]:
    """This checkout's sources first; no cluster address, so the command starts its own Ray."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"RAY_ADDRESS", "MLFLOW_TRACKING_URI"}}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"  # output reaches the log as it happens
    return env


def tiny_workspace(root: Path, num_trials: int = 3, max_steps: int = 8,
                   report_every: int = 2, files: int = 30) -> Workspace:
    """A git corpus of `files` standard-library modules and a tiny recipe over it: a small
    model pre-trained for a few steps, `num_trials` trials of `max_steps` steps, FIFO."""
    repo = make_repo(root / "corpus", files)
    recipes = tiny_recipes(repo, num_trials, max_steps, report_every)
    for name, data in recipes.items():
        (root / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return Workspace(root, root / "tuning.yaml", root / "run", root / "cache")


def make_repo(repo: Path, files: int) -> Path:
    """A real git repository of standard-library modules."""
    repo.mkdir(parents=True)
    for source in sorted(STDLIB.glob("[a-m]*.py"))[:files]:
        (repo / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    for args in (["init", "-q"], ["add", "."],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "corpus"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


def tiny_recipes(repo: Path, num_trials: int, max_steps: int, report_every: int) -> dict:
    """{file name: recipe} for the pipeline, evaluation suite and tuning recipe."""
    pipeline = {
        "name": "drill", "sources": [{"path": str(repo)}], "dedup": {"near": False},
        "split": {"by": "file", "train": 0.7, "validation": 0.15, "test": 0.15},
        "tasks": [{"builder": "completion", "params": {"context_lines": 8, "stride_lines": 8}}],
    }
    suite = {"name": "drill", "num_actors": 1, "tasks": [{
        "name": "line_completion", "dataset": "completion", "split": "test", "max_examples": 8,
        "generation": {"max_new_tokens": 8, "batch_size": 8}, "metrics": ["exact_match"]}]}
    tuning = {
        "name": "drill", "pipeline": "pipeline.yaml", "eval": "eval.yaml",
        "model": {"tiny": {"vocab_size": 400, "hidden_size": 32, "num_layers": 1,
                           "num_heads": 2, "intermediate_size": 64, "pretrain_steps": 10,
                           "pretrain_batch_size": 4, "pretrain_window": 32}},
        "lora": {"r": 4, "alpha": 8},
        "data": {"window": 32, "micro_batch_size": 4, "val_blocks": 8, "loader": "direct"},
        "train": {"max_steps": max_steps, "report_every": report_every, "num_workers": 1},
        "sweep": {"num_trials": num_trials, "max_concurrent_trials": 1,
                  "space": {"optim.lr": {"loguniform": [1e-3, 1e-2]}},
                  "scheduler": {"type": "fifo"}},
    }
    return {"pipeline.yaml": pipeline, "eval.yaml": suite, "tuning.yaml": tuning}


def trials_with_checkpoints(run_dir: Path) -> list[Path]:
    """Trial directories under `run_dir/train/` that hold at least one checkpoint."""
    return sorted(p for p in (run_dir / "train").glob("*") if any(p.glob("checkpoint_*")))
