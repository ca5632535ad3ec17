"""Ray Data settings of prepare: on an over-subscribed local instance its tasks use the
machine's cores, not the instance's logical CPUs; elsewhere nothing is capped."""

from __future__ import annotations

import os

import pytest
import ray
from ray.data import ExecutionOptions

from codesweep.corpus import ray_steps


def node(cpus: float, address: str = "10.0.0.1") -> dict:
    return {"Alive": True, "NodeManagerAddress": address, "Resources": {"CPU": cpus}}


@pytest.fixture
def here(monkeypatch):
    monkeypatch.setattr(ray.util, "get_node_ip_address", lambda: "10.0.0.1")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)


def test_a_local_instance_with_more_logical_cpus_is_capped_to_the_cores(here, monkeypatch):
    monkeypatch.setattr(ray, "nodes", lambda: [node(4)])
    options = ExecutionOptions()
    capped = ray_steps.capped_options(options)
    assert capped.resource_limits.cpu == 2
    assert options.resource_limits.cpu != 2  # the caller's options stay as they were


@pytest.mark.parametrize("nodes", [[node(2)], [node(8, "10.0.0.9")], [node(4), node(4, "b")]])
def test_a_real_cluster_or_an_exact_local_count_is_not_capped(here, monkeypatch, nodes):
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    assert ray_steps.local_cores() is None
    assert ray_steps.capped_options(ExecutionOptions()).resource_limits.cpu != 2
