"""Shared fixtures. Ray starts once per test session (starting it costs seconds)."""

from __future__ import annotations

import pytest

# Fixtures for real S3-compatible storage and a two-node Ray cluster on this machine.
pytest_plugins = ["s3_support", "cluster_support"]


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray cluster for the whole test session, with logical CPUs over-subscribed.

    Four logical CPUs on a 2-core machine avoid the Train-workers-plus-Data-task deadlock.
    Its own processes know its address, as a command's local instance does (other Ray
    instances run beside it: the two-node cluster, drills); this process's children do not,
    so a command a test spawns starts its own.
    """
    import os

    import ray

    from codesweep.cluster import own_address_for_ray_processes

    if not ray.is_initialized():
        before = os.environ.get("RAY_ADDRESS")
        with own_address_for_ray_processes():
            ray.init(address="local", num_cpus=4, include_dashboard=True,
                     log_to_driver=False, configure_logging=False)
        if before is None:
            del os.environ["RAY_ADDRESS"]
    yield ray
    ray.shutdown()


@pytest.fixture
def marker(monkeypatch: pytest.MonkeyPatch) -> str:
    """A known marker for the next sandboxed sample: afterwards, no process may carry it."""
    import uuid

    from codesweep.execution import runner

    value = f"codesweep-sandbox-test-{uuid.uuid4().hex}"
    monkeypatch.setattr(runner, "new_marker", lambda: value)
    return value
