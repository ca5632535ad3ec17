"""cluster.yaml must pass the cluster-launcher schema that ships inside the ray package, name
only files that exist, and agree with the code (ray pin, head resource, GPU maximum)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from doc_references import markdown_section, missing_files, named_files
from ray.autoscaler._private.util import prepare_config, validate_config

from codesweep.cluster import MAX_GPUS_ENV, TRAIN_DRIVER
from codesweep.storage import STORAGE_ENV, resolve_storage
from codesweep.storage_checks import check_shared_across_nodes

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster.yaml"


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def all_commands(config: dict) -> str:
    keys = ("setup_commands", "head_setup_commands", "worker_setup_commands",
            "head_start_ray_commands", "worker_start_ray_commands")
    return "\n".join(command for key in keys for command in config.get(key, []))


def test_cluster_yaml_is_valid(config: dict) -> None:
    validate_config(prepare_config(copy.deepcopy(config)))
    gpu_types = [name for name, node in config["available_node_types"].items()
                 if node["resources"].get("GPU")]
    assert gpu_types and config["available_node_types"][gpu_types[0]]["max_workers"] > 0
    assert "GPU" not in config["available_node_types"][config["head_node_type"]]["resources"]
    assert any("codesweep" in command for command in config["worker_setup_commands"])


def test_validation_catches_a_broken_config(config: dict) -> None:
    broken = copy.deepcopy(config)
    broken["head_node_type"] = "missing"
    with pytest.raises(ValueError):
        validate_config(prepare_config(broken))


def test_every_file_it_names_exists() -> None:
    text = CLUSTER.read_text()
    assert "tuning/kotlin_completion.yaml" in named_files(text)
    assert missing_files(text) == []


def test_images_are_pinned_to_the_ray_version_codesweep_pins(config: dict) -> None:
    pin = re.search(r'"ray\[[\w,]+\]==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    images = [config["docker"][key] for key in ("head_image", "worker_image")]
    assert pin and all(image.startswith(f"rayproject/ray:{pin.group(1)}-") for image in images)
    assert images[1].endswith("-gpu")


def test_workers_install_the_gpu_extras_from_the_mounted_project(config: dict) -> None:
    [mount] = config["file_mounts"]
    assert config["file_mounts"][mount] == "."
    assert any(f"{mount}[gpu]" in command for command in config["worker_setup_commands"])
    assert {".git", ".venv", "runs", ".cache", "mlruns"} <= set(config["rsync_exclude"])


def test_storage_root_is_a_bucket_every_node_can_use(config: dict) -> None:
    """The root is an S3 bucket: one the multi-node guard accepts, in the cluster's region,
    readable by the GPU workers (Ray gives only the head an instance profile by default)."""
    commands = all_commands(config)
    [storage] = re.findall(rf"{STORAGE_ENV}=(\S+?)'", commands)
    root = resolve_storage(storage)
    assert root.scheme == "s3" and root.path.count("/") >= 1
    check_shared_across_nodes(root, ["head", "gpu-1"])  # raises for a root on one disk
    [region] = re.findall(r"AWS_REGION=(\S+?)'", commands)
    assert region == config["provider"]["region"]
    for name, node in config["available_node_types"].items():
        if name != config["head_node_type"]:
            assert node["node_config"]["IamInstanceProfile"]["Arn"].startswith("arn:aws:iam::")
    assert all(". ~/codesweep.env" in command for command in
               config["head_start_ray_commands"][1:] + config["worker_start_ray_commands"][1:])


def test_mlflow_server_keeps_its_artifacts_under_the_storage_root(config: dict) -> None:
    assert re.search(r'mlflow server .*--artifacts-destination "\$CODESWEEP_STORAGE/mlflow"',
                     " ".join(config["head_start_ray_commands"]))
    assert any("mlflow" in command and "boto3" in command
               for command in config["head_setup_commands"])


def test_head_resource_and_gpu_maximum_match_the_code(config: dict) -> None:
    nodes = config["available_node_types"]
    assert nodes[config["head_node_type"]]["resources"][TRAIN_DRIVER] >= 1
    most_gpus = sum(node["resources"].get("GPU", 0) * node["max_workers"]
                    for node in nodes.values())
    [stated] = re.findall(rf"{MAX_GPUS_ENV}=(\d+)", all_commands(config))
    assert int(stated) == most_gpus


SAMPLE = """\
# Tool
## Run on a cluster
ray job submit ... -- codesweep run tuning/kotlin_completion.yaml
then `codesweep run tuning/no_such_recipe.yaml` and bench/prepare_scaling.py
### Details
eval/kotlin_completion.yaml
## Next section
pipelines/not_in_the_section.yaml
"""


def test_files_named_in_a_markdown_section() -> None:
    section = markdown_section(SAMPLE, "Run on a cluster")
    assert named_files(section) == ["tuning/kotlin_completion.yaml",
                                    "tuning/no_such_recipe.yaml", "bench/prepare_scaling.py",
                                    "eval/kotlin_completion.yaml"]
    assert missing_files(section) == ["tuning/no_such_recipe.yaml"]
    with pytest.raises(LookupError):
        markdown_section(SAMPLE, "Not there")
