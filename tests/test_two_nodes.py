"""Two Ray nodes on one machine, the second unable to see the head's private directories:
what crosses nodes goes through shared storage, and a local-disk root is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_support import TwoNodeCluster
from s3_support import make_bucket

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("two_node_driver.py")


@pytest.fixture(scope="module")
def driver_run(two_node_cluster: TwoNodeCluster, s3_server: str) -> dict:
    """Run the driver once against the cluster; its JSON result plus its whole output."""
    cluster = two_node_cluster
    secret = cluster.head_private / "prepared" / "only-on-the-head.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("the head's local cache")
    env = {**cluster.env, "CODESWEEP_S3_ENDPOINT": s3_server}
    s3_uri = f"s3://{make_bucket(s3_server)}/runs"
    done = subprocess.run([sys.executable, str(DRIVER), str(secret), s3_uri, str(cluster.shared)],
                          env=env, cwd=cluster.shared, capture_output=True, text=True,
                          timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return {**json.loads(line.removeprefix("RESULT ")), "output": output,
            "address": cluster.address, "shared": cluster.shared}


def test_joins_the_local_head_with_token_auth(driver_run: dict) -> None:
    # ensure_ray(num_cpus=4) against a running `ray start` head: joined, no ValueError
    assert driver_run["line"] == f"Ray cluster at {driver_run['address']}: 2 nodes, 4 CPUs, 0 GPUs"


def test_second_node_sees_shared_storage_only(driver_run: dict) -> None:
    remote = driver_run["remote"]
    assert remote["node"] != driver_run["driver_node"]
    assert driver_run["driver_sees_secret"] and not remote["sees_secret"]
    assert remote["s3_text"] == remote["shared_text"] == "written by the driver"
    assert driver_run["s3_from_second"] == remote["node"]
    assert (driver_run["shared"] / "from-second-node.txt").read_text() == remote["node"]


def test_worker_output_reaches_the_driver(driver_run: dict) -> None:
    assert "output-of-a-task-on-the-second-node" in driver_run["output"]


def test_local_disk_root_is_refused_on_two_nodes(driver_run: dict) -> None:
    refused = driver_run["refused_local"]
    assert refused is not None and "\n" not in refused
    assert "is a local disk, but the Ray cluster has 2 nodes" in refused
    assert all(node in refused for node in driver_run["nodes"])
    assert driver_run["refused_shared"] is None and driver_run["refused_s3"] is None
