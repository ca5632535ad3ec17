"""The drill scaffolding on trivial commands (the drills themselves run real sweeps)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from drill_support import DrillTimeout, start, tiny_workspace

from codesweep.config.loader import load_recipe
from codesweep.config.pipeline import PipelineConfig
from codesweep.config.schema import EvalSuite, TuningRecipe

CTRL_C_AWARE = """
import signal, sys, time
def stop(signum, frame):
    print("interrupted, progress saved", flush=True)
    sys.exit(130)
signal.signal(signal.SIGINT, stop)
print("step 1 done", flush=True)
time.sleep(60)
"""
WITH_GRANDCHILD = """
import subprocess, time
child = subprocess.Popen(["sleep", "60"])
print(f"grandchild {child.pid}", flush=True)
time.sleep(60)
"""


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_wait_for_output_then_ctrl_c(tmp_path: Path) -> None:
    with start(python(CTRL_C_AWARE), tmp_path) as drill:
        drill.wait_for(r"^step 1 done$", "the first step", timeout_s=30)
        drill.interrupt()
        result = drill.finish(timeout_s=30)
    assert result.returncode == 130
    assert result.output.splitlines() == ["step 1 done", "interrupted, progress saved"]


def test_wait_for_a_file(tmp_path: Path) -> None:
    code = "import pathlib, time; time.sleep(0.5); pathlib.Path('marker').touch(); time.sleep(60)"
    with start(python(code), tmp_path) as drill:
        drill.wait_for(lambda: (tmp_path / "marker").exists(), "the marker file", timeout_s=30)
        drill.terminate()
        assert drill.finish(timeout_s=30).returncode == -15


def test_exit_before_the_condition_is_reported_with_the_output(tmp_path: Path) -> None:
    with start(python("print('boom'); raise SystemExit(3)"), tmp_path) as drill, \
            pytest.raises(DrillTimeout, match=r"exited \(3\) before a checkpoint.*\n.*boom"):
        drill.wait_for(r"never", "a checkpoint", timeout_s=30)


def test_timeout_names_what_it_waited_for(tmp_path: Path) -> None:
    with start(python("import time; time.sleep(60)"), tmp_path) as drill, \
            pytest.raises(DrillTimeout, match=r"no trial within 1 s"):
        drill.wait_for(r"trial", "trial", timeout_s=1.0)


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may wait for a reaper that never comes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_kill_crashes_the_driver_and_close_reaps_the_rest(tmp_path: Path) -> None:
    with start(python(WITH_GRANDCHILD), tmp_path) as drill:
        drill.wait_for(r"grandchild \d+", "the grandchild", timeout_s=30)
        grandchild = int(drill.output().split()[1])
        drill.kill()
        assert drill.finish(timeout_s=30).returncode == -9
        assert running(grandchild)  # a crash leaves the driver's children running ...
    deadline = time.monotonic() + 10
    while running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(grandchild)  # ... until the drill's block ends


def test_tiny_workspace_recipes_validate(tmp_path: Path) -> None:
    workspace = tiny_workspace(tmp_path, num_trials=3, files=5)
    recipe = load_recipe(workspace.recipe, TuningRecipe)
    assert (recipe.sweep.num_trials, recipe.train.max_steps) == (3, 8)
    load_recipe(workspace.root / recipe.pipeline, PipelineConfig)
    load_recipe(workspace.root / recipe.eval, EvalSuite)
    assert len(list((workspace.root / "corpus").glob("*.py"))) == 5
