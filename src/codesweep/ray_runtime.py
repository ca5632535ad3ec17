"""One Ray session per command: join a cluster when there is one, else start locally."""

from __future__ import annotations

import os

import ray

from codesweep.cluster import ClusterInfo, cluster_address, describe, join_cluster, start_local

_connected: ClusterInfo | None = None  # what ensure_ray connected this process to

# The workers of a prepare-only instance hand freed memory straight back: Arrow allocates
# through glibc instead of its own pool, and glibc maps every allocation of 1 MiB or more
# on its own, so freeing it unmaps it (its default threshold climbs to 32 MiB, and what
# lies below stays in the heap). A worker kept 250-430 MiB of a block's freed buffers for
# the next task; with these an 8x prepare's tree peaked about 0.2 GB lower. Not for
# trials: torch's CPU tensors would be mapped and faulted in anew at every step.
PREPARE_WORKER_ENV = {"ARROW_DEFAULT_MEMORY_POOL": "system",
                      "MALLOC_MMAP_THRESHOLD_": str(2**20)}


def ensure_ray(num_cpus: int | None = None, trials: bool = True) -> ClusterInfo:
    """Start (or join) Ray once for this process; return what it is connected to.

    With `RAY_ADDRESS` set (a `ray job submit` driver, or a user's cluster) or a local
    `ray start` head running, we join it, without resource arguments (Ray refuses them when
    joining). Otherwise a private local instance starts with logical CPUs over-subscribed,
    because 2 Train workers plus a Ray Data task deadlock on a 2-core machine when each asks
    for a whole CPU. `num_cpus` applies to that local instance only.

    `trials=False` (a command that runs no Ray Train, such as `codesweep prepare`) starts a
    local instance of one logical CPU per core, no dashboard and `PREPARE_WORKER_ENV` in its
    workers: the dashboard's State API serves Train's clean-up of stopped trials, and
    nothing else here. On an 8x prepare
    (2 cores) the process tree's peak PSS was 2.2 GB with this instance against 2.7-2.9 GB
    with the full one, in no more time. Whoever starts Ray first decides: `codesweep run`
    connects before it prepares, so its prepare shares the full instance.
    """
    global _connected
    if ray.is_initialized():
        if _connected is None:  # started by someone else in this process (a test fixture)
            _connected = describe(ray.get_runtime_context().gcs_address, joined=False)
        return _connected
    address = cluster_address()
    if address:
        _connected = join_cluster(address)
        return _connected
    # Ray Train's controller polls its workers every 2 s by default: every report and the end
    # of each run wait for the next poll. A local cluster can afford a shorter period.
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
    cores = os.cpu_count() or 1
    _connected = start_local(num_cpus or (max(4, 2 * cores) if trials else cores),
                             dashboard=trials, worker_env=None if trials else PREPARE_WORKER_ENV)
    adopt_local_instance()
    return _connected


def adopt_local_instance() -> None:
    """Pass the private instance's address to every process this one spawns (with two
    local instances on a machine, Ray's helpers that look one up refuse to guess), mark its
    session directory as ours, and clean up finished sessions of earlier commands at exit."""
    import atexit

    from codesweep.ray_sessions import clean_sessions, mark_session

    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    mark_session()
    atexit.register(clean_sessions)
