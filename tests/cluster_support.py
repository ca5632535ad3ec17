"""A real two-node Ray cluster on one machine, for tests of what crosses node boundaries.

The head is `ray start --head --block` on a free port; the second node is `ray start --address
... --block` inside a private mount namespace with tmpfs over the head's private directory
and Ray temp directory, so it sees the machine's files except the head's own, as a second
machine would. The second node carries the custom resource `second_node`, so a task asking
for it runs there. Both run with token auth on (a token under a private HOME).

Only the processes started here are stopped (their process groups and recorded
descendants, by PID); `ray stop` is never used. Use under the shared lock file that keeps two
Ray instances from running at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from s3_support import CREDENTIALS

SECOND_NODE = "second_node"
TRAIN_DRIVER = "TRAIN_DRIVER"  # the head resource cluster.yaml defines for trial drivers
RAY = str(Path(sys.executable).with_name("ray"))


@dataclass
class TwoNodeCluster:
    """Where the cluster is and what each node can see."""

    address: str              # GCS address as the head recorded it (IP:PORT)
    head_private: Path        # the head's cache/run directory: hidden from the second node
    shared: Path              # a directory both nodes see (a stand-in for NFS)
    ray_tmpdir: Path          # RAY_TMPDIR under which the head recorded its address
    env: dict[str, str]       # environment for a driver process (HOME with the token)
    processes: list[subprocess.Popen] = field(default_factory=list)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def node_env(home: Path) -> dict[str, str]:
    """Environment of both nodes: token auth, dummy S3 credentials, no usage reporting."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("RAY_", "AWS_"))}
    return {**env, **CREDENTIALS, "HOME": str(home), "RAY_AUTH_MODE": "token",
            "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}


def head_command(port: int, temp_dir: Path, dashboard_port: int | None = None) -> list[str]:
    """`ray start --head --block` with the head resource cluster.yaml defines; the dashboard
    (and the job API) on `dashboard_port`, a free one unless given."""
    return [RAY, "start", "--head", "--block", f"--port={port}",
            f"--resources={json.dumps({TRAIN_DRIVER: 2})}",
            "--num-cpus=2", "--num-gpus=0", f"--temp-dir={temp_dir}",
            "--object-store-memory=150000000", "--include-dashboard=true",
            f"--dashboard-port={dashboard_port or free_port()}",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats"]


def worker_command(address: str, temp_dir: Path, hidden: list[Path]) -> list[str]:
    """`ray start` for the second node, in a mount namespace hiding `hidden` behind tmpfs."""
    start = [RAY, "start", f"--address={address}", "--block",
             "--num-cpus=2", "--num-gpus=0", f"--temp-dir={temp_dir}",
             "--object-store-memory=150000000", f"--resources={json.dumps({SECOND_NODE: 100})}",
             f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats"]
    mounts = "; ".join(f"mount -t tmpfs tmpfs {shlex.quote(str(path))}" for path in hidden)
    script = f"set -e; {mounts}; exec {shlex.join(start)}"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def start_process(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a node in its own process group (so teardown can stop exactly it)."""
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def alive_nodes_seen(env: dict[str, str], address: str) -> int:
    """Alive nodes as a fresh driver sees them (-1 while the head does not answer)."""
    probe = (f"import ray; ray.init(address={address!r}, log_to_driver=False); "
             "print(sum(n['Alive'] for n in ray.nodes()))")
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=120)
    return int(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else -1


def wait_for_nodes(cluster: TwoNodeCluster, count: int, logs: Path, timeout_s: float) -> None:
    """Wait until `count` nodes are alive; fail with the nodes' logs otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in cluster.processes):
            break
        if alive_nodes_seen({**cluster.env, "RAY_AUTH_MODE": "token"}, cluster.address) >= count:
            return
        time.sleep(1)
    text = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs.glob("*.log"))
    raise RuntimeError(f"the two-node cluster did not come up:\n{text}")


def stop(process: subprocess.Popen, grace_s: float = 20) -> None:
    """Stop one node: SIGTERM to its process group, then SIGKILL what is left of it."""
    try:
        root = psutil.Process(process.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    _signal_group(process.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=grace_s)
    _signal_group(process.pid, signal.SIGKILL)
    for leftover in alive:  # descendants recorded above that left the group
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()
    process.wait(timeout=grace_s)


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(group, signum)


@pytest.fixture(scope="session")
def two_node_cluster(s3_server: str) -> Iterator[TwoNodeCluster]:
    """Head + second node (private mount namespace), both alive; stopped afterwards."""
    if shutil.which("unshare") is None:
        pytest.fail("the two-node cluster needs util-linux's unshare")
    base = Path(tempfile.mkdtemp(prefix="cs2n-", dir="/tmp"))  # short: Ray's socket paths
    home, head_private, shared = base / "home", base / "head-private", base / "shared"
    for directory in (home / ".ray", head_private, shared, base / "logs"):
        directory.mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(os.urandom(16).hex())
    env = node_env(home)
    head_temp = base / "tmp" / "ray"  # RAY_TMPDIR=base/tmp finds the head's address file
    port = free_port()
    address = f"127.0.0.1:{port}"
    cluster = TwoNodeCluster(address, head_private, shared, base / "tmp",
                             {**env, "RAY_TMPDIR": str(base / "tmp")})
    cluster.env.pop("RAY_AUTH_MODE")  # a driver must work this out itself
    try:
        cluster.processes.append(start_process(head_command(port, head_temp), env,
                                               base / "logs" / "head.log"))
        wait_for_nodes(cluster, 1, base / "logs", timeout_s=90)
        # the address as Ray recorded it (127.0.0.1 becomes this machine's address)
        cluster.address = (head_temp / "ray_current_cluster").read_text().strip()
        hidden = [head_private, base / "tmp"]
        cluster.processes.append(start_process(
            worker_command(address, base / "worker-tmp", hidden), env,
            base / "logs" / "worker.log"))
        wait_for_nodes(cluster, 2, base / "logs", timeout_s=90)
        yield cluster
    finally:
        for process in reversed(cluster.processes):
            stop(process)
        shutil.rmtree(base)
