"""How a command's private Ray instance is sized (`ray_runtime.ensure_ray`)."""

from __future__ import annotations

import os

import pytest

from codesweep import ray_runtime


@pytest.fixture
def started(monkeypatch):
    """Record what ensure_ray would start, without starting it."""
    calls: list[tuple[int, bool, dict | None]] = []

    def start_local(num_cpus: int, dashboard: bool = True, worker_env=None) -> str:
        calls.append((num_cpus, dashboard, worker_env))
        return "local"

    monkeypatch.setattr(ray_runtime.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray_runtime, "cluster_address", lambda: None)
    monkeypatch.setattr(ray_runtime, "start_local", start_local)
    monkeypatch.setattr(ray_runtime, "adopt_local_instance", lambda: None)
    monkeypatch.setattr(ray_runtime, "_connected", None)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    return calls


def test_commands_that_run_trials_get_over_subscribed_cpus_and_the_dashboard(started):
    assert ray_runtime.ensure_ray() == "local"
    assert started == [(4, True, None)]  # torch's allocations keep glibc's defaults


def test_prepare_alone_gets_a_cpu_per_core_no_dashboard_and_workers_that_free_memory(
        started):
    ray_runtime.ensure_ray(trials=False)
    assert started == [(2, False, {"ARROW_DEFAULT_MEMORY_POOL": "system",
                                   "MALLOC_MMAP_THRESHOLD_": "1048576"})]


def test_an_asked_cpu_count_wins(started):
    ray_runtime.ensure_ray(num_cpus=6, trials=False)
    assert started[0][:2] == (6, False)
