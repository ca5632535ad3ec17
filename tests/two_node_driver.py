"""A driver run against the two-node test cluster (see test_two_nodes.py); prints JSON.

It joins the way `codesweep` does (`ensure_ray`, asked for CPUs it must not pass on), runs a
task on the second node, and runs the storage checks against the cluster it joined.
"""

from __future__ import annotations

import json
import os
import sys
import time

import ray

from codesweep.cluster import check_storage_for_cluster
from codesweep.errors import CodesweepError
from codesweep.ray_runtime import ensure_ray
from codesweep.storage import StorageRef, resolve_storage

MARKER = "output-of-a-task-on-the-second-node"


@ray.remote(resources={"second_node": 1}, num_cpus=0.5)
def on_second_node(secret: str, s3: StorageRef, shared: StorageRef) -> dict:
    """What the second node sees of the head's private file and of the shared storage."""
    print(MARKER, flush=True)
    node = ray.get_runtime_context().get_node_id()
    s3.child("from-second-node.txt").write_text(node)
    shared.child("from-second-node.txt").write_text(node)
    return {"node": node, "sees_secret": os.path.exists(secret),
            "s3_text": s3.child("from-head.txt").read_text(),
            "shared_text": shared.child("from-head.txt").read_text()}


def refusal(root: StorageRef) -> str | None:
    """The check's one-line refusal of `root` on this cluster, or None when it passes."""
    try:
        check_storage_for_cluster(root, timeout_s=2)
    except CodesweepError as error:
        return str(error)
    return None


def main(secret: str, s3_uri: str, shared_dir: str) -> dict:
    info = ensure_ray(num_cpus=4)
    s3 = resolve_storage(s3_uri)
    shared = resolve_storage(shared_dir, shared=True)
    s3.child("from-head.txt").write_text("written by the driver")
    shared.child("from-head.txt").write_text("written by the driver")
    remote = ray.get(on_second_node.remote(secret, s3, shared))
    time.sleep(2)  # worker output reaches the driver asynchronously
    return {"line": info.line(), "nodes": info.nodes, "remote": remote,
            "driver_node": ray.get_runtime_context().get_node_id(),
            "driver_sees_secret": os.path.exists(secret),
            "s3_from_second": s3.child("from-second-node.txt").read_text(),
            "refused_local": refusal(resolve_storage(os.path.dirname(secret))),
            "refused_shared": refusal(shared), "refused_s3": refusal(s3)}


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(*sys.argv[1:4])), flush=True)
