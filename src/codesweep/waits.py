"""Waits on Ray that end: a timeout and one line naming what was waited for and why it may
not come (e.g. CPUs still held by the placement groups of finished trials)."""

from __future__ import annotations

import os
from typing import Any

from codesweep.errors import CodesweepError

ACTOR_START_TIMEOUT_S = float(os.environ.get("CODESWEEP_ACTOR_START_TIMEOUT_S", "300"))


def wait_for_actors(actors: list[Any], what: str, needs: dict[str, float],
                    timeout_s: float = ACTOR_START_TIMEOUT_S) -> None:
    """Block until every actor has started; raise a one-line CodesweepError naming `what`,
    the resources each needs and what the cluster has free when they do not in time."""
    import ray

    _, pending = ray.wait([actor.__ray_ready__.remote() for actor in actors],
                          num_returns=len(actors), timeout=timeout_s)
    if pending:
        for actor in actors:
            ray.kill(actor)
        raise CodesweepError(not_scheduled(what, len(pending), len(actors), needs, timeout_s,
                                           ray.available_resources()))


def not_scheduled(what: str, waiting: int, total: int, needs: dict[str, float],
                  timeout_s: float, free: dict[str, float]) -> str:
    """The one line for actors that could not be scheduled."""
    asked = ", ".join(f"{amount:g} {name}" for name, amount in needs.items() if amount)
    has = ", ".join(f"{free.get(name, 0):g} {name}" for name in needs) or "nothing"
    return (f"{what}: {waiting} of {total} actors not started after {timeout_s:g} s; each "
            f"needs {asked}, the cluster has {has} free (resources may be held by placement "
            "groups of finished trials or by another command on this cluster; set "
            "CODESWEEP_ACTOR_START_TIMEOUT_S to wait longer)")
