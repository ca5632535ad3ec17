"""On Ray: a sweep that optimizes a code metric (Tune receives `eval.<task>.edit_sim` with
every report and ASHA stops a trial on it), and an evaluation actor killed mid-way that loses
no stored result, the re-run scoring only what is missing."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml
from eval_support import make_base, make_prepared, save_adapter
from test_train_tasks import make_workspace, task_spec

from codesweep.config.schema import EvalSuite
from codesweep.evaluation.runner import EvalInputs, Outcome, content_hash, run_evaluation
from codesweep.records import BASE, CheckpointRef

pytestmark = pytest.mark.slow

METRIC = "eval.lines.edit_sim"


def sweep_spec(root: Path) -> tuple:
    suite = {"name": "s", "num_actors": 1, "in_training": {"examples": 8}, "tasks": [
        {"name": "lines", "dataset": "lines", "split": "validation", "max_examples": 8,
         "metrics": ["edit_sim"], "generation": {"max_new_tokens": 8, "batch_size": 8}}]}
    (root / "eval.yaml").write_text(yaml.safe_dump(suite))
    spec = task_spec(root, train={"num_workers": 1, "max_steps": 6, "report_every": 2},
                     sweep={"num_trials": 3, "metric": METRIC, "max_concurrent_trials": 1,
                            # one sane learning rate, then an absurd one twice
                            "space": {"optim.lr": {"choice": [3e-2, 1e3]}},
                            "points_to_evaluate": [{"optim.lr": 3e-2}, {"optim.lr": 1e3},
                                                   {"optim.lr": 1e3}],
                            "scheduler": {"type": "asha", "grace_period": 1,
                                          "reduction_factor": 2}})
    return spec.model_copy(update={"eval_suite": str(root / "eval.yaml"),
                                   "train_dir": str(root / "run" / "train")})


def reported(run_dir: Path) -> dict[float, list[dict]]:
    """Each trial's Tune results (result.json lines), keyed by its learning rate."""
    trials = {}
    for path in sorted((run_dir / "sweep").glob("*/result.json")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        trials.setdefault(rows[0]["config"]["optim.lr"], []).append(rows)
    return trials


def test_asha_stops_trials_on_the_code_metric(ray_session, tmp_path: Path) -> None:
    from codesweep.tune.sweep import run_sweep

    root = make_workspace(tmp_path)
    spec = sweep_spec(root)
    assert spec.recipe.sweep.mode == "max"
    started = time.monotonic()
    finished, interrupted = run_sweep(spec, root / "run", resume=False)
    assert not interrupted and [t.status for t in finished] == ["done"] * 3
    print(f"sweep with in-loop scoring: {time.monotonic() - started:.1f}s")
    trials = reported(root / "run")
    every = [rows for runs in trials.values() for rows in runs]
    seconds = [row.get("eval.lines.seconds", 0.0) for rows in every for row in rows]
    print(f"in-loop scoring: {len(seconds)} checkpoints, {sum(seconds):.1f}s generating+scoring")
    assert len(every) == 3
    for rows in every:  # every report carries its own checkpoint's score
        assert all(row["eval.lines.status"] == "ok" and METRIC in row for row in rows)
    [sane] = trials[3e-2]
    assert len(sane) == 3  # max_steps 6 / report_every 2
    absurd = trials[1e3]
    assert all(len(rows) < 3 for rows in absurd)  # ASHA stopped them on edit_sim
    assert all(rows[0][METRIC] < sane[0][METRIC] for rows in absurd)
    kept = {trial.name: sorted(p for p in trial.glob("checkpoint_*") if p.is_dir())
            for trial in (root / "run" / "train").iterdir()}
    assert sorted(map(len, kept.values())) == [1, 1, 2]  # keep_checkpoints: 2, after scoring
    reported_paths = {row["checkpoint_path"] for rows in every for row in rows}
    assert {str(p) for paths in kept.values() for p in paths} <= reported_paths


@pytest.fixture
def many_checkpoints(tmp_path: Path) -> tuple:
    base, texts = make_base(tmp_path)
    checkpoints = [BASE] + [
        CheckpointRef(trial_id="t1", step=step,
                      path=str(save_adapter(base, tmp_path / "t1" / f"c{step}", step, step)))
        for step in (2, 4)]
    suite = EvalSuite(name="s", num_actors=1, tasks=[
        {"name": "quick", "dataset": "completion", "metrics": ["edit_sim"],
         "generation": {"max_new_tokens": 2, "batch_size": 8}},
        {"name": "slow", "dataset": "completion", "metrics": ["edit_sim"],
         "generation": {"max_new_tokens": 160, "batch_size": 1}}])
    inputs = EvalInputs(str(base), content_hash(str(base)), make_prepared(tmp_path, texts),
                        "float32")
    return suite, checkpoints, inputs


def kill_eval_actor_when(condition, address: str) -> None:
    from ray.util.state import list_actors

    while not condition():
        time.sleep(0.05)
    [actor] = list_actors(address=address,  # other Ray instances may run on this machine
                          filters=[("class_name", "=", "EvalWorker"), ("state", "=", "ALIVE")])
    os.kill(actor.pid, signal.SIGKILL)


def test_a_killed_actor_loses_nothing_and_the_rerun_scores_only_the_rest(
        ray_session, many_checkpoints: tuple, tmp_path: Path) -> None:
    suite, checkpoints, inputs = many_checkpoints
    results = tmp_path / "results"
    killer = threading.Thread(target=kill_eval_actor_when,
                              args=(lambda: len(list(results.glob("*.parquet"))) >= 1,
                                    ray_session.get_runtime_context().gcs_address))
    killer.start()
    lines: list[str] = []
    first = run_evaluation(suite, checkpoints, inputs, results, progress=lines.append)
    killer.join()
    # what was written before the kill is kept; every other pair failed with the reason
    assert first.scored >= 1 and first.failed and first.reused == 0
    assert first.scored + len(first.failed) == 6
    assert all("evaluation actor failed" in reason for reason in first.failed.values())
    assert lines[-2].startswith("6/6 (checkpoint, task) pairs, ")
    assert lines[-1].startswith("time: actor start-up ")  # then where the time went
    assert len(list(results.glob("*.parquet"))) == first.scored
    second = run_evaluation(suite, checkpoints, inputs, results)
    assert (second.scored, second.reused, second.failed) == (len(first.failed), first.scored, {})
    assert run_evaluation(suite, checkpoints, inputs, results) == Outcome(reused=6)
