"""The README's `ray job submit` command against a real local head (`ray start --head --block`
with the dashboard on, token auth on, `CODESWEEP_STORAGE` exported as cluster.yaml does):
the job succeeds, everything it produced is under the storage root and nothing in Ray's job
package directory, and a resubmission after editing a project file reuses the prepared data,
the base model, the finished trials and the scores."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cluster_support import free_port, head_command, node_env, start_process, stop
from drill_support import SRC, make_repo, tiny_recipes

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
RECIPE = "tuning/tiny.yaml"  # stands in for the README's recipe, inside the project
RUN_NAME = "drill"           # the tiny recipe's name: its run is <root>/runs/drill


@dataclass(frozen=True)
class Head:
    """A local head whose job API answers at `dashboard`, and where things land."""

    dashboard: str    # http://127.0.0.1:PORT, the address `ray job submit` is given
    temp_dir: Path    # the head's --temp-dir: Ray unpacks job packages below it
    storage: Path     # CODESWEEP_STORAGE of the head, so of every job it runs
    env: dict[str, str]  # environment of the submitting shell (HOME holding the token)


def readme_submit_command() -> str:
    """The README's `ray job submit` command, continuation lines joined."""
    lines = README.read_text(encoding="utf-8").splitlines()
    command_line = re.compile(r"^(\w+=\S+ )*ray job submit ")  # not prose naming it
    start = next(i for i, line in enumerate(lines) if command_line.match(line))
    command = []
    for line in lines[start:]:
        command.append(line.rstrip().removesuffix("\\"))
        if not line.rstrip().endswith("\\"):
            return " ".join(command)
    raise AssertionError("README.md: the `ray job submit` command does not end")


def submit_command(head: Head) -> str:
    """The README's command with this head's address and the tiny recipe; nothing else
    changed (the test fails if the README's command takes another shape)."""
    words = shlex.split(readme_submit_command())
    assert words[:3] == ["RAY_AUTH_MODE=token", "ray", "job"], words
    address = words.index("--address") + 1
    assert words[-3:-1] == ["codesweep", "run"] and words[-4] == "--", words
    words[address], words[-1] = head.dashboard, RECIPE
    return shlex.join(words)


def write_project(project: Path) -> None:
    """A project as a user has it: recipes under tuning/, a corpus given as a path inside."""
    make_repo(project / "corpus", files=30)
    recipes = tiny_recipes(project / "corpus", num_trials=2, max_steps=4, report_every=2)
    recipes["pipeline.yaml"]["sources"] = [{"path": "../corpus"}]
    (project / "tuning").mkdir()
    for name, data in recipes.items():
        target = project / "tuning" / ("tiny.yaml" if name == "tuning.yaml" else name)
        target.write_text(yaml.safe_dump(data, sort_keys=False))


def wait_for_job_api(dashboard: str, head: subprocess.Popen, timeout_s: float = 120) -> None:
    """Wait until the dashboard answers HTTP (a 401 without the token counts: it is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and head.poll() is None:
        try:
            urllib.request.urlopen(f"{dashboard}/api/version", timeout=5)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"the head's dashboard at {dashboard} did not come up")


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    """`ray start --head --block` in its own session; stopped by its process group."""
    base = Path(tempfile.mkdtemp(prefix="csjob-", dir="/tmp"))  # short: Ray's socket paths
    (base / "home" / ".ray").mkdir(parents=True)
    (base / "home" / ".ray" / "auth_token").write_text(os.urandom(16).hex())
    env = node_env(base / "home")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(SRC)
    head_env = {**env, "CODESWEEP_STORAGE": str(base / "storage")}  # as cluster.yaml exports
    dashboard_port, temp_dir = free_port(), base / "tmp" / "ray"
    process = start_process(head_command(free_port(), temp_dir, dashboard_port), head_env,
                            base / "head.log")
    try:
        dashboard = f"http://127.0.0.1:{dashboard_port}"
        wait_for_job_api(dashboard, process)
        submit_env = {name: value for name, value in env.items() if name != "RAY_AUTH_MODE"}
        yield Head(dashboard, temp_dir, base / "storage", submit_env)
    finally:
        stop(process)
        shutil.rmtree(base, ignore_errors=True)


def submit(head: Head, project: Path) -> tuple[str, float]:
    """Run the README's command in the project; its output and wall time."""
    start = time.perf_counter()
    done = subprocess.run(["bash", "-c", submit_command(head)], cwd=project, env=head.env,
                          capture_output=True, text=True, timeout=900)
    wall_s = time.perf_counter() - start
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert re.search(r"Job 'raysubmit_\w+' succeeded", output), output[-6000:]
    return " ".join(output.split()), wall_s  # the job's console wraps long lines


def files_under(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def job_packages(head: Head) -> list[Path]:
    """The directories Ray unpacked job working directories into."""
    unpacked = head.temp_dir.glob("session_*/runtime_resources/working_dir_files/*")
    return sorted({path.resolve() for path in unpacked if path.is_dir()})  # session_latest


def trial_histories(run_dir: Path) -> dict[str, list]:
    return {trial["trial_id"]: trial["history"]
            for trial in json.loads((run_dir / "trials.json").read_text())}


def test_readme_job_submit_keeps_results_and_a_resubmission_reuses_them(
        head: Head, tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_project(project)
    shipped = files_under(project)
    first, first_s = submit(head, project)
    [package] = job_packages(head)
    assert files_under(package) <= shipped, files_under(package) - shipped  # nothing produced
    assert files_under(project) == shipped  # nor in the submitting checkout

    run_dir = head.storage / "runs" / RUN_NAME
    [prepared] = (head.storage / ".cache" / "codesweep" / "prepared").glob("drill-*")
    assert (prepared / "manifest.json").is_file()
    assert (run_dir / "trials.json").is_file() and (run_dir / "eval" / "summary.json").is_file()
    assert (run_dir / "mlflow.db").is_file() and (run_dir / "mlartifacts").is_dir()
    histories = trial_histories(run_dir)
    assert len(histories) == 2 and all(histories.values())

    recipe = project / RECIPE
    recipe.write_text(recipe.read_text() + "# a note: same recipe\n")
    second, second_s = submit(head, project)
    assert len(job_packages(head)) == 2  # a new package: the edit changed its hash
    assert re.search(rf"prepare: reused \S*/{prepared.name}", second), second[-6000:]
    assert re.search(r"base model: reused ", second), second[-6000:]
    assert "sweep: reused (recipe, data and base model unchanged)" in second, second[-6000:]
    assert re.search(r"evaluate: (\d+) \(checkpoint, task\) pairs: 0 scored, \1 reused", second)
    assert trial_histories(run_dir) == histories
    assert [p.name for p in (head.storage / ".cache" / "codesweep" / "prepared").glob("drill-*")
            ] == [prepared.name]
    assert "prepare: built" in first and "sweep: starting" in first
    print(f"ray job submit: first job {first_s:.1f}s wall, resubmission {second_s:.1f}s wall")
