"""cluster.yaml must pass the cluster-launcher schema that ships inside the ray package."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[1] / "cluster.yaml"


def test_cluster_yaml_is_valid() -> None:
    config = yaml.safe_load(CLUSTER.read_text())
    validate_config(prepare_config(copy.deepcopy(config)))
    gpu_types = [name for name, node in config["available_node_types"].items()
                 if node["resources"].get("GPU")]
    assert gpu_types and config["available_node_types"][gpu_types[0]]["max_workers"] > 0
    assert "GPU" not in config["available_node_types"][config["head_node_type"]]["resources"]
    assert any("codesweep" in command for command in config["setup_commands"])


def test_validation_catches_a_broken_config() -> None:
    config = yaml.safe_load(CLUSTER.read_text())
    config["head_node_type"] = "missing"
    with pytest.raises(ValueError):
        validate_config(prepare_config(config))
