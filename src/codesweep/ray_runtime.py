"""One Ray session per command: connect to a cluster when one is given, else start locally."""

from __future__ import annotations

import os

import ray


def ensure_ray(num_cpus: int | None = None) -> None:
    """Start (or join) Ray once for this process.

    With RAY_ADDRESS set (a `ray job submit` driver, or a user's cluster) we join it; otherwise
    a local cluster starts with logical CPUs over-subscribed, because 2 Train workers plus a
    Ray Data task deadlock on a 2-core machine when each asks for a whole CPU.
    """
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
        return
    # Ray Train's controller polls its workers every 2 s by default: every report and the end
    # of each run wait for the next poll. A local cluster can afford a shorter period.
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
    cpus = num_cpus or max(4, 2 * (os.cpu_count() or 1))
    ray.init(num_cpus=cpus, include_dashboard=True, log_to_driver=False, configure_logging=False)
