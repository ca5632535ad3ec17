"""`codesweep sweep` on a real two-node cluster (tests/cluster_support.py): with the default
local root it is refused before anything starts; with a root both nodes mount it completes,
its Train worker placed on the second node, which cannot see the head's private files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_support import SECOND_NODE, TwoNodeCluster
from test_end_to_end import make_repo, write_recipes

pytestmark = pytest.mark.slow

# One trial whose single Train worker needs 2 CPUs: the trial driver asks for the head's
# TRAIN_DRIVER resource and holds one of its two CPUs, so the worker fits only on the second
# node.
OVERRIDES = ["sweep.num_trials=1", "train.num_workers=1", "train.cpus_per_worker=2",
             "train.max_steps=2", "train.report_every=2"]

PLACEMENT_PROBE = """
import json, ray
from ray.util.state import list_actors
ray.init(address="auto", log_to_driver=False)
second = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get({resource!r})]
workers = [a.node_id for a in list_actors(filters=[("class_name", "=", "RayTrainWorker")],
                                          limit=1000)]
print("PLACEMENT " + json.dumps({{"second": second, "workers": workers}}))
"""


def codesweep(cluster: TwoNodeCluster, project: Path, *args: str,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "codesweep", "sweep", str(project / "tuning.yaml"),
               *[part for item in OVERRIDES for part in ("-o", item)], *args]
    return subprocess.run(command, cwd=project, env={**cluster.env, **(env or {})},
                          capture_output=True, text=True, timeout=900)


def placement(cluster: TwoNodeCluster) -> dict:
    """Which node is the second one, and where every Train worker actor ran."""
    probe = PLACEMENT_PROBE.format(resource=SECOND_NODE)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**cluster.env, "RAY_AUTH_MODE": "token"}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("PLACEMENT ")]
    return json.loads(line.removeprefix("PLACEMENT "))


@pytest.fixture(scope="module")
def project(two_node_cluster: TwoNodeCluster) -> Path:
    """Recipes and a corpus in the directory both nodes see."""
    folder = two_node_cluster.shared / "project"
    folder.mkdir()
    write_recipes(folder, make_repo(folder))
    return folder


def test_local_root_on_two_nodes_is_refused_before_anything_starts(
        two_node_cluster: TwoNodeCluster, project: Path) -> None:
    done = codesweep(two_node_cluster, project)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if "is a local disk" in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert "the Ray cluster has 2 nodes" in errors[0] and "--storage" in errors[0]
    assert "Traceback" not in done.stderr
    assert not (project / ".cache").exists()  # refused before prepare


def test_sweep_on_shared_root_trains_on_the_second_node(
        two_node_cluster: TwoNodeCluster, project: Path) -> None:
    start = time.perf_counter()
    done = codesweep(two_node_cluster, project, "--storage", str(project),
                     env={"CODESWEEP_STORAGE_SHARED": "1"})
    wall_s = time.perf_counter() - start
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert f"Ray cluster at {two_node_cluster.address}: 2 nodes, 4 CPUs" in done.stderr
    [trial] = json.loads((project / "runs" / "tiny" / "trials.json").read_text())
    assert trial["status"] == "done" and trial["checkpoint"].startswith(str(project))
    assert (Path(trial["checkpoint"]) / "adapter_config.json").is_file() or \
        any(Path(trial["checkpoint"]).iterdir())
    where = placement(two_node_cluster)
    assert where["workers"] and set(where["workers"]) == set(where["second"]), where
    print(f"two-node sweep: {wall_s:.1f}s wall, Train workers on {where['workers']}")


def test_prepare_reads_sources_that_only_the_head_can_see(
        two_node_cluster: TwoNodeCluster) -> None:
    """Sources on the driver's disk (a checkout, a path in the user's home), prepared on two
    nodes: every listed file is read. A read task placed on the second node found none of
    its files and dropped them as `unreadable`."""
    project = two_node_cluster.head_private / "prepare-project"
    project.mkdir()
    write_recipes(project, make_repo(project))
    root = two_node_cluster.shared / "prepare-root"
    command = [sys.executable, "-m", "codesweep", "prepare", str(project / "pipeline.yaml"),
               "--storage", str(root), "-o", "execution.files_per_batch=2"]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=600,
                          env={**two_node_cluster.env, "CODESWEEP_STORAGE_SHARED": "1"})
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    [manifest] = (root / ".cache" / "codesweep" / "prepared").glob("tiny-*/manifest.json")
    counts = json.loads(manifest.read_text())
    assert counts["sources"][0]["files_listed"] == 60
    assert "unreadable" not in json.dumps(counts)
