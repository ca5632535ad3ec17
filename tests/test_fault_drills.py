"""Fault drills on local Ray: a Train worker process killed mid-run, a sweep driver killed
between trials, and an early-stopped sweep that must not leak placement groups."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_train_tasks import make_workspace

from codesweep.config.schema import TuningRecipe
from codesweep.records import PreparedDataRef, TrialSpec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("faults"))


def base_recipe(root: Path, **train: object) -> dict:
    return TuningRecipe.model_validate({
        "name": "drill", "pipeline": "p.yaml", "model": {"name_or_path": str(root / "llama")},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "optim": {"lr": 3e-2, "warmup_steps": 0},
        "data": {"window": 32, "micro_batch_size": 4, "val_blocks": 4},
        "train": {"num_workers": 2, "torch_threads": 1, "max_steps": 8, "report_every": 2,
                  **train},
    }).model_dump(by_alias=True)


def spec_of(root: Path, recipe: dict, train_dir: Path | None = None) -> TrialSpec:
    return TrialSpec(recipe=TuningRecipe.model_validate(recipe), base_path=str(root / "llama"),
                     prepared=PreparedDataRef(root=str(root / "prepared"), key="test"),
                     train_dir=str(train_dir or root / "train"))


def worker_killed_once(drill: Path) -> Callable[[dict], None]:
    """The real worker, except that rank 1 SIGKILLs its own process once, mid-way between
    the checkpoints of steps 4 and 6; rank 0 logs every step it reports and the step of the
    checkpoint it resumed from. Drill files go to `drill`."""
    return lambda config: _worker_killed_once(config, drill)


def _worker_killed_once(config: dict, drill: Path) -> None:
    import ray.train

    from codesweep.train import ray_worker

    rank = ray.train.get_context().get_world_rank()
    checkpoint = ray.train.get_checkpoint()
    if rank == 0 and checkpoint is not None:
        with checkpoint.as_directory() as directory:
            step = json.loads((Path(directory) / "metrics.json").read_text())["step"]
        with (drill / "resumed.log").open("a") as log:
            log.write(f"{step}\n")
    report = ray_worker._report

    def report_or_die(metrics: dict, directory: Path | None) -> None:
        # Die before step 6's report. The controller collects reports every 2 s, so a
        # checkpoint reported just before a crash can be lost (those steps are redone); the
        # sleep stands for the training time a real run spends between checkpoints.
        if rank == 1 and metrics["step"] == 6 and not (drill / "killed").exists():
            time.sleep(5)
            (drill / "killed").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        report(metrics, directory)
        if rank == 0:
            with (drill / "steps.log").open("a") as log:
                log.write(f"{metrics['step']}\n")

    ray_worker._report = report_or_die  # this worker process only
    ray_worker.train_worker(config)


def test_killed_worker_resumes_from_last_checkpoint(ray_session, workspace: Path,
                                                    tmp_path: Path) -> None:
    import ray.cloudpickle

    from codesweep.train.ray_worker import make_trainer

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/
    spec = spec_of(workspace, base_recipe(workspace))
    result = make_trainer(spec, name="killed", storage_path=tmp_path / "train", callbacks=[],
                          train_fn=worker_killed_once(tmp_path)).fit()
    assert (tmp_path / "killed").exists()  # the drill did kill a worker
    steps = [int(s) for s in (tmp_path / "steps.log").read_text().split()]
    assert steps == [2, 4, 6, 8]  # nothing repeated, nothing skipped
    assert (tmp_path / "resumed.log").read_text().split() == ["4"]  # from the newest checkpoint
    assert result.metrics["step"] == 8
    assert (Path(result.checkpoint.path) / "adapter_model.safetensors").is_file()


DRIVER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import ray
    from codesweep.records import TrialSpec
    from codesweep.tune.sweep import make_tuner
    ray.init(address=sys.argv[1], log_to_driver=False)
    base_spec = TrialSpec.model_validate_json(Path(sys.argv[2]).read_text())
    make_tuner(base_spec, Path(sys.argv[3]), resume=False).fit()
""")


def sweep_spec(root: Path, run_dir: Path, **sweep: object) -> TrialSpec:
    recipe = base_recipe(root, max_steps=4, report_every=2)
    recipe["sweep"] = {"num_trials": 2, "max_concurrent_trials": 1, "seed": 0,
                       "space": {"optim.lr": {"choice": [1e-2, 3e-2]}},
                       "scheduler": {"type": "fifo"}, **sweep}
    return spec_of(root, recipe, run_dir / "train")


def test_killed_sweep_driver_resumes_without_rerunning_trials(ray_session, workspace: Path,
                                                              tmp_path: Path) -> None:
    from codesweep.tune.sweep import collect_trials, make_tuner

    run_dir = tmp_path / "run"
    spec = sweep_spec(workspace, run_dir)
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    (tmp_path / "driver.py").write_text(DRIVER)
    address = ray_session.get_runtime_context().gcs_address
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), address,
                               str(tmp_path / "spec.json"), str(run_dir)])
    first_done = _wait_for_second_trial(run_dir / "train", driver)
    driver.send_signal(signal.SIGKILL)  # the sweep's driver dies mid-sweep
    driver.wait()
    started = {d.name for d in (run_dir / "train").iterdir() if d.is_dir()}
    finished_id = first_done.parent.name
    finished_history = tune_history(run_dir, finished_id)
    assert finished_history[-1]["step"] == 4

    trials = collect_trials(make_tuner(spec, run_dir, resume=True).fit())
    assert {t.trial_id for t in trials} == started  # no trial added, none lost
    assert [t.status for t in trials] == ["done", "done"]
    assert all([row["step"] for row in t.history][-1] == 4 for t in trials)
    finished = next(t for t in trials if t.trial_id == finished_id)
    # the finished trial was not rerun: the same steps with the same losses
    assert [(r["step"], r["train_loss"]) for r in finished.history] == \
        [(r["step"], r["train_loss"]) for r in finished_history]
    assert tune_history(run_dir, finished_id) == finished_history


def tune_history(run_dir: Path, trial_id: str) -> list[dict]:
    """Every result Tune recorded for a trial (its result.json, one line per report)."""
    (trial_dir,) = [d for d in (run_dir / "sweep").iterdir() if trial_id in d.name]
    lines = (trial_dir / "result.json").read_text().splitlines()
    return [{k: row[k] for k in ("step", "train_loss")} for row in map(json.loads, lines)]


def _wait_for_second_trial(train_dir: Path, driver: subprocess.Popen) -> Path:
    """Wait until one trial has its final checkpoint and a second trial has begun."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert driver.poll() is None, "the sweep finished before the drill could interrupt it"
        finals = list(train_dir.glob("*/checkpoint_*")) if train_dir.is_dir() else []
        finished = [c for c in finals if _reported_step(c) == 4]
        started = [d for d in train_dir.iterdir() if d.is_dir()] if train_dir.is_dir() else []
        if finished and len(started) >= 2:
            return finished[0]
        time.sleep(0.5)
    raise AssertionError("no trial finished in time")


def _reported_step(checkpoint: Path) -> int | None:
    """The step a checkpoint's metrics.json names; None while Ray is still copying it in."""
    try:
        return json.loads((checkpoint / "metrics.json").read_text()).get("step")
    except (OSError, json.JSONDecodeError):  # not there yet, or not a checkpoint directory
        return None


def test_early_stopped_sweep_leaks_no_placement_groups(ray_session, workspace: Path,
                                                       tmp_path: Path) -> None:
    from ray.util.state import list_placement_groups

    from codesweep.tune.sweep import collect_trials, make_tuner

    run_dir = tmp_path / "asha"
    spec = sweep_spec(workspace, run_dir, num_trials=2,
                      space={"optim.lr": {"choice": [3e-2, 1e-7]}},
                      points_to_evaluate=[{"optim.lr": 3e-2}, {"optim.lr": 1e-7}],
                      scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 2})
    address = ray_session.get_runtime_context().gcs_address  # other Ray instances may run here
    # Only this sweep's groups count: an earlier drill SIGKILLs a driver on the same cluster.
    before = {pg.placement_group_id for pg in list_placement_groups(address=address)}
    trials = collect_trials(make_tuner(spec, run_dir, resume=False).fit())
    steps = sorted(len(t.history) for t in trials)
    assert steps == [1, 2]  # the lr=1e-7 trial was stopped at its first rung
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = [pg.placement_group_id for pg in list_placement_groups(address=address)
                 if pg.state in ("CREATED", "PENDING") and pg.placement_group_id not in before]
        if not alive:
            break
        time.sleep(1)
    assert alive == []
