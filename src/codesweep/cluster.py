"""Joining a Ray cluster, describing it, and sizing work to what it can grow to.

- `cluster_address()`: `$RAY_ADDRESS`, else a live local `ray start` head, else None (start
  a private local instance).
- `join_cluster()`: connect with token auth when the cluster uses it, and with worker output
  forwarded so Train workers and actors show up in `ray job logs`.
- `describe()`: which cluster, how many nodes, CPUs and GPUs, as one line.
- `max_trials_at_once()`, `trial_driver_resources()`: sweep width from the autoscaler's
  configured maximum, and the head-only resource trial drivers ask for.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from codesweep.errors import CodesweepError
from codesweep.storage import StorageRef
from codesweep.storage_checks import (
    check_not_in_job_package,
    check_reachable,
    check_shared_across_nodes,
)

TRAIN_DRIVER = "TRAIN_DRIVER"    # head resource of cluster.yaml: trial drivers stay on the head
MAX_GPUS_ENV = "CODESWEEP_MAX_GPUS"  # a cluster.yaml may state the GPUs it can grow to
TOKEN_FILE = Path.home() / ".ray" / "auth_token"


class ClusterInfo(BaseModel):
    """What this process is connected to."""

    address: str          # GCS address, or "local" for a private instance
    joined: bool          # True: an existing cluster; False: started for this process
    nodes: list[str]      # alive nodes as ip:port (two nodes on one machine share an ip)
    cpus: float
    gpus: float

    def line(self) -> str:
        """One line for the user: which cluster, nodes, CPUs, GPUs."""
        where = f"Ray cluster at {self.address}" if self.joined else "local Ray instance"
        count = len(self.nodes)
        return (f"{where}: {count} node{'s' if count != 1 else ''}, "
                f"{self.cpus:g} CPUs, {self.gpus:g} GPUs")


# -- finding and joining ------------------------------------------------------------------


def local_head_address(address_file: Path | None = None) -> str | None:
    """The address a local `ray start` recorded, when its GCS still answers (else None).

    `ray stop` removes the file, a killed head leaves it behind: a stale file must not make
    every later command try to join a dead cluster.
    """
    address_file = ray_address_file() if address_file is None else address_file
    if not address_file.is_file():
        return None
    address = address_file.read_text().strip()
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not _answers(host, int(port)):
        return None
    return address


def ray_address_file() -> Path:
    """Where `ray start` records the head it started (/tmp/ray/ray_current_cluster)."""
    from ray._common.utils import get_ray_address_file

    return Path(get_ray_address_file(None))


def _answers(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def cluster_address(env: Mapping[str, str] | None = None) -> str | None:
    """The cluster to join: `$RAY_ADDRESS`, else a live local head; None to start locally."""
    env = os.environ if env is None else env
    return env.get("RAY_ADDRESS") or local_head_address()


def use_token_auth(env: MutableMapping[str, str] | None = None,
                   token_file: Path | None = None) -> bool:
    """Set RAY_AUTH_MODE=token before joining when a token exists and no mode is chosen.

    A head started with `~/.ray/auth_token` present runs token auth, while a driver given
    only an address does not turn it on ("Missing authentication token").
    """
    variables: MutableMapping[str, str] = os.environ if env is None else env
    token_file = TOKEN_FILE if token_file is None else token_file
    if variables.get("RAY_AUTH_MODE") or not (variables.get("RAY_AUTH_TOKEN")
                                               or token_file.is_file()):
        return False
    variables["RAY_AUTH_MODE"] = "token"
    return True


def join_cluster(address: str) -> ClusterInfo:
    """Connect to the cluster at `address`; never pass resources (Ray refuses them then)."""
    import ray

    if use_token_auth():
        from ray._raylet import Config  # type: ignore[attr-defined]  # compiled module

        Config.initialize("")  # Ray read RAY_AUTH_MODE at import: make it see the new mode
    try:
        # Worker and actor output goes to the driver, hence to `ray job logs`.
        ray.init(address=address, log_to_driver=True, configure_logging=False)
    except ConnectionError as exc:
        raise CodesweepError(f"cannot join the Ray cluster at {address}: "
                             f"{str(exc).splitlines()[0]}") from exc
    return describe(address, joined=True)


def start_local(num_cpus: int, dashboard: bool = True,
                worker_env: dict[str, str] | None = None) -> ClusterInfo:
    """Start a private local instance (address="local": a stale address file is ignored),
    its workers with the environment variables `worker_env` added."""
    import ray

    runtime_env = {"env_vars": worker_env} if worker_env else None
    with own_address_for_ray_processes():
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=dashboard,
                 log_to_driver=False, configure_logging=False, runtime_env=runtime_env)
    return describe("local", joined=False)


@contextlib.contextmanager
def own_address_for_ray_processes() -> Iterator[None]:
    """Start the instance on a GCS port chosen here, with `RAY_ADDRESS` naming it in the
    environment its processes inherit. Ray's own helpers look the cluster up through the
    State API, which refuses to guess between two instances on one machine (seen: Ray
    Train's PlacementGroupCleaner then died and an ASHA-stopped trial's workers kept their
    placement group, so the next trial waited forever). Setting `RAY_ADDRESS` after
    `ray.init` reaches only what this process spawns, not Ray's workers."""
    from ray._private.services import get_node_ip_address

    port = free_port()
    saved = {key: os.environ.get(key) for key in ("RAY_GCS_SERVER_PORT", "RAY_ADDRESS")}
    os.environ["RAY_GCS_SERVER_PORT"] = str(port)
    os.environ["RAY_ADDRESS"] = f"{get_node_ip_address()}:{port}"
    try:
        yield
    except BaseException:
        _restore(saved)
        raise
    _restore({"RAY_GCS_SERVER_PORT": saved["RAY_GCS_SERVER_PORT"]})  # later inits pick theirs


def _restore(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def free_port() -> int:
    """A TCP port free on this machine now."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])




def describe(address: str, joined: bool) -> ClusterInfo:
    """What the connected cluster holds now."""
    import ray

    totals = ray.cluster_resources()
    return ClusterInfo(address=address, joined=joined, nodes=alive_nodes(),
                       cpus=totals.get("CPU", 0), gpus=totals.get("GPU", 0))


def alive_nodes() -> list[str]:
    """The alive nodes as `ip:node-manager-port`, sorted (one entry per node)."""
    import ray

    return sorted(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}"
                  for node in ray.nodes() if node["Alive"])


def check_storage_for_cluster(root: StorageRef, timeout_s: float = 5.0) -> None:
    """Every start-up check of the storage root, against the cluster this process joined."""
    check_not_in_job_package(root)
    check_shared_across_nodes(root, alive_nodes())
    check_reachable(root, timeout_s)


# -- sizing ---------------------------------------------------------------------------------


def max_cluster_resources() -> dict[str, float]:
    """What the cluster can grow to: the autoscaler's configured maximum where there is one,
    `$CODESWEEP_MAX_GPUS` where the cluster states it, and at least what it holds now."""
    import ray
    from ray._private.state import state  # the reader Ray Train itself uses

    totals = dict(ray.cluster_resources())
    for name, value in (state.get_max_resources_from_cluster_config() or {}).items():
        totals[name] = max(totals.get(name, 0), float(value))
    if os.environ.get(MAX_GPUS_ENV):
        totals["GPU"] = max(totals.get("GPU", 0), float(os.environ[MAX_GPUS_ENV]))
    return totals


def max_trials_at_once(num_trials: int, max_concurrent_trials: int | None,
                       gpus_per_trial: float, cpus_per_trial: float,
                       capacity: Mapping[str, float], driver: Mapping[str, float]) -> int:
    """How many trials run at once; Tune queues the rest and the autoscaler adds nodes.

    `sweep.max_concurrent_trials` wins when set. Otherwise the width is what the cluster can
    grow to (`capacity`, see `max_cluster_resources`): GPUs per trial when trials use GPUs,
    else CPUs, and no more drivers than the head resource they ask for (`driver`).
    """
    if max_concurrent_trials:
        return max(1, min(max_concurrent_trials, num_trials))
    if gpus_per_trial > 0:
        width = math.floor(capacity.get("GPU", 0) / gpus_per_trial)
    else:
        width = math.floor(capacity.get("CPU", 1) / max(cpus_per_trial, 1e-9))
    if TRAIN_DRIVER in driver:
        width = min(width, math.floor(capacity.get(TRAIN_DRIVER, 0) / driver[TRAIN_DRIVER]))
    return max(1, min(width, num_trials))


def trial_driver_resources(capacity: Mapping[str, float], cpus: float = 1) -> dict[str, float]:
    """Resources of one trial driver: its CPU, plus one TRAIN_DRIVER where the cluster has it
    (so drivers stay on the head and never hold a GPU node the autoscaler could release)."""
    resources: dict[str, Any] = {"CPU": cpus}
    if capacity.get(TRAIN_DRIVER):
        resources[TRAIN_DRIVER] = 1
    return resources
