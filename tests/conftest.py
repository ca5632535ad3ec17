"""Shared fixtures. Ray starts once per test session (starting it costs seconds)."""

from __future__ import annotations

import pytest

# Fixtures for real S3-compatible storage and a two-node Ray cluster on this machine.
pytest_plugins = ["s3_support", "cluster_support"]


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray cluster for the whole test session, with logical CPUs over-subscribed.

    Four logical CPUs on a 2-core machine avoid the Train-workers-plus-Data-task deadlock.
    """
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=4, include_dashboard=True, log_to_driver=False,
                 configure_logging=False)
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
