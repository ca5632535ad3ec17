"""Fault drills on the real command: `codesweep run` interrupted with Ctrl-C after its first
trial, crashed with SIGKILL mid-sweep, run twice at once on one run dir and side by side on
two, rerun over a truncated cache, and `prepare` onto a full disk. The interrupted ones end
with a plain rerun that must finish the work without redoing it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from drill_support import DrillResult, Workspace, drill_env, start, start_run, tiny_workspace

pytestmark = pytest.mark.slow

TRIALS = 3


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return tiny_workspace(tmp_path, num_trials=TRIALS, max_steps=6, report_every=2, files=20)


def trial_dirs(run_dir: Path) -> list[Path]:
    train = run_dir / "train"
    return sorted(d for d in train.iterdir() if d.is_dir()) if train.is_dir() else []


def finished_trials(run_dir: Path) -> dict[str, list[dict]]:
    """{trial id: [(step, train_loss), ...]} of trials whose Tune results reached the last
    step, read from Tune's own result files."""
    finished = {}
    sweep = run_dir / "sweep"
    for trial in trial_dirs(run_dir):
        tune_dirs = [d for d in sweep.iterdir() if trial.name in d.name]
        if not tune_dirs:  # killed before Tune wrote this trial's directory: not finished
            continue
        result = tune_dirs[0] / "result.json"
        rows = [json.loads(line) for line in result.read_text().splitlines()] \
            if result.is_file() else []
        if rows and rows[-1].get("step") == 6:
            finished[trial.name] = [{"step": r["step"], "train_loss": r["train_loss"]}
                                    for r in rows]
    return finished


def sweep_state(run_dir: Path) -> str:
    return json.loads((run_dir / "sweep_state.json").read_text())["status"]


def plain_rerun(workspace: Workspace) -> DrillResult:
    with start_run(workspace) as drill:
        return drill.finish(timeout_s=600)


def assert_resumed_keeping(workspace: Workspace, before: dict[str, list[dict]],
                           result: DrillResult) -> None:
    """The rerun resumed, kept every finished trial as it was and completed the rest."""
    assert result.returncode == 0, result.output[-3000:]
    assert "sweep: resuming the unfinished sweep" in result.output
    trials = json.loads((workspace.run_dir / "trials.json").read_text())
    assert len(trials) == TRIALS and all(t["status"] == "done" for t in trials)
    assert len(trial_dirs(workspace.run_dir)) == TRIALS  # no trial retrained under a new id
    by_id = {t["trial_id"]: t for t in trials}
    for trial_id, history in before.items():
        kept = [{"step": r["step"], "train_loss": r["train_loss"]} for r in by_id[trial_id]
                ["history"]]
        assert kept == history, f"finished trial {trial_id} was retrained"
    assert sweep_state(workspace.run_dir) == "done"


def test_ctrl_c_after_the_first_trial_then_a_plain_rerun(workspace: Workspace) -> None:
    with start_run(workspace) as drill:
        drill.wait_for(lambda: len(trial_dirs(workspace.run_dir)) >= 2, "a second trial")
        drill.interrupt()
        result = drill.finish()
    assert result.returncode == 130, result.output[-3000:]
    assert "sweep interrupted; finished trials are kept" in result.output
    assert "every trial failed" not in result.output
    assert sweep_state(workspace.run_dir) == "interrupted"
    assert not (workspace.run_dir / "trials.json").exists()  # never recorded as swept
    before = finished_trials(workspace.run_dir)
    assert len(before) >= 1
    assert_resumed_keeping(workspace, before, plain_rerun(workspace))


def test_sigkill_mid_sweep_then_a_plain_rerun(workspace: Workspace) -> None:
    with start_run(workspace) as drill:
        drill.wait_for(lambda: len(trial_dirs(workspace.run_dir)) >= 2, "a second trial")
        drill.kill()
        drill.finish()
    assert sweep_state(workspace.run_dir) == "running"  # by a driver that is gone
    before = finished_trials(workspace.run_dir)
    assert len(before) >= 1
    assert_resumed_keeping(workspace, before, plain_rerun(workspace))


def test_second_run_on_the_same_run_dir_fails_at_once(workspace: Workspace) -> None:
    with start_run(workspace) as first:
        first.wait_for(r"prepare: ", "the first run's prepare line")
        second = subprocess.run(
            [sys.executable, "-m", "codesweep", "run", str(workspace.recipe), "--run-dir",
             str(workspace.run_dir), "--cache-dir", str(workspace.cache_dir)],
            cwd=workspace.root, env=drill_env(), capture_output=True, text=True, timeout=60)
        said = " ".join((second.stdout + second.stderr).split())  # the console wraps lines
        assert second.returncode == 2, said
        assert f"is in use by pid {first.process.pid}" in said
        result = first.finish(timeout_s=600)
    assert result.returncode == 0, result.output[-3000:]
    assert len(json.loads((workspace.run_dir / "trials.json").read_text())) == TRIALS


def test_truncated_prepared_file_and_base_are_rebuilt(tmp_path: Path) -> None:
    workspace = tiny_workspace(tmp_path, num_trials=1, max_steps=2, report_every=2, files=20)
    assert plain_rerun(workspace).returncode == 0
    parquet = next((workspace.cache_dir / "prepared").glob("*/files/train/*.parquet"))
    weights = next((workspace.cache_dir / "models").glob("*/*.safetensors"))
    for path in (parquet, weights):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = plain_rerun(workspace)
    assert result.returncode == 0, result.output[-3000:]
    said = " ".join(result.output.split())  # the console wraps long lines
    unwrapped = "".join(result.output.split())  # and breaks a long file name anywhere
    assert "prepare: rebuilding the prepared data" in said and parquet.name in unwrapped
    assert "rebuilding the tiny base" in said and weights.name in unwrapped



def descendants(pid: int) -> set[int]:
    """Every process below `pid` now (Ray's head processes, workers, sandboxes)."""
    return {child.pid for child in psutil.Process(pid).children(recursive=True)}


def assert_nothing_outlives(pids: set[int], grace_s: float = 10.0) -> None:
    """No process of a finished run is alive `grace_s` seconds after its driver exited."""
    deadline = time.monotonic() + grace_s
    alive = [p for p in pids if psutil.pid_exists(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [p for p in alive if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, [" ".join(psutil.Process(p).cmdline())[:120] for p in alive]


def test_two_runs_on_different_run_dirs_both_finish(tmp_path: Path) -> None:
    spaces = [tiny_workspace(tmp_path / name, num_trials=1, max_steps=2, report_every=2,
                             files=20) for name in ("one", "two")]
    seen: set[int] = set()
    with start_run(spaces[0]) as first, start_run(spaces[1]) as second:
        for drill in (first, second):  # both reach their sweeps: Ray and trials running
            drill.wait_for(r"sweep: ", "the sweep line", timeout_s=600)
            seen |= descendants(drill.process.pid)
        results = [first.finish(timeout_s=600), second.finish(timeout_s=600)]
    for workspace, result in zip(spaces, results, strict=True):
        assert result.returncode == 0, result.output[-3000:]
        summary = json.loads((workspace.run_dir / "eval" / "summary.json").read_text())
        assert summary, "evaluation ran"
    assert seen, "the runs started processes of their own"
    assert_nothing_outlives(seen)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux's unshare")
def test_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    """`prepare` onto a 256 KiB tmpfs (in a private mount namespace, so nothing of this
    machine is touched): one line naming the problem, no traceback, no half-written data."""
    workspace = tiny_workspace(tmp_path, num_trials=1, files=20)
    workspace.cache_dir.mkdir()
    prepare = [sys.executable, "-m", "codesweep", "prepare", str(workspace.root / "pipeline.yaml"),
               "--cache-dir", str(workspace.cache_dir)]
    script = (f"mount -t tmpfs -o size=256k tmpfs {workspace.cache_dir} || exit 99; "
              f"{' '.join(prepare)}; code=$?; find {workspace.cache_dir} -mindepth 1; "
              "exit $code")
    with start(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
               workspace.root) as drill:
        result = drill.finish(timeout_s=600)
    assert result.returncode == 2, result.output[-3000:]
    said = " ".join(result.output.split())
    assert "no space left on the device" in said, result.output[-3000:]
    assert "Traceback" not in result.output
    left = [line for line in result.output.splitlines()
            if line.startswith(str(workspace.cache_dir))]  # what `find` listed on the tmpfs
    assert not [path for path in left if path.endswith(".parquet")], left  # nothing half-written
