"""Finding a cluster, token auth, and sweep width, without starting Ray."""

from __future__ import annotations

import socket
from pathlib import Path

from codesweep.cluster import (
    ClusterInfo,
    cluster_address,
    local_head_address,
    max_trials_at_once,
    trial_driver_resources,
    use_token_auth,
)


def test_a_live_local_head_is_found_and_a_stale_one_ignored(tmp_path: Path) -> None:
    address_file = tmp_path / "ray_current_cluster"
    assert local_head_address(address_file) is None
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        address_file.write_text(f"127.0.0.1:{port}\n")
        assert local_head_address(address_file) == f"127.0.0.1:{port}"
    # the head is gone, its file stays behind (a killed `ray start`)
    assert local_head_address(address_file) is None


def test_ray_address_wins() -> None:
    assert cluster_address({"RAY_ADDRESS": "10.0.0.1:6379"}) == "10.0.0.1:6379"


def test_token_auth_is_turned_on_when_a_token_exists(tmp_path: Path) -> None:
    token = tmp_path / "auth_token"
    env: dict[str, str] = {}
    assert not use_token_auth(env, token) and "RAY_AUTH_MODE" not in env
    token.write_text("secret")
    assert use_token_auth(env, token) and env["RAY_AUTH_MODE"] == "token"
    chosen = {"RAY_AUTH_MODE": "disabled"}
    assert not use_token_auth(chosen, token) and chosen["RAY_AUTH_MODE"] == "disabled"


def test_width_comes_from_what_the_cluster_can_grow_to() -> None:
    # an autoscaling cluster with no GPU worker up yet, 4 at most; 6 trials of 1 GPU
    grown = {"CPU": 8, "GPU": 4, "TRAIN_DRIVER": 4}
    assert max_trials_at_once(6, None, 1, 4, grown, {"CPU": 1}) == 4
    assert max_trials_at_once(6, None, 2, 4, grown, {"CPU": 1}) == 2
    assert max_trials_at_once(2, None, 1, 4, grown, {"CPU": 1}) == 2
    # drivers asking for the head resource: no more than the head has
    assert max_trials_at_once(6, None, 1, 4, {**grown, "GPU": 8, "TRAIN_DRIVER": 3},
                              {"CPU": 1, "TRAIN_DRIVER": 1}) == 3
    # the recipe's cap wins; a CPU sweep is sized by CPUs
    assert max_trials_at_once(6, 5, 1, 4, grown, {"CPU": 1}) == 5
    assert max_trials_at_once(6, None, 0, 2, {"CPU": 4}, {"CPU": 1}) == 2
    assert max_trials_at_once(6, None, 1, 1, {"CPU": 4}, {"CPU": 1}) == 1  # no GPU at all


def test_trial_drivers_ask_for_the_head_resource_only_where_it_exists() -> None:
    assert trial_driver_resources({"CPU": 8, "TRAIN_DRIVER": 4}) == {"CPU": 1,
                                                                     "TRAIN_DRIVER": 1}
    assert trial_driver_resources({"CPU": 8}, cpus=0.5) == {"CPU": 0.5}


def test_one_line_description() -> None:
    info = ClusterInfo(address="10.0.0.1:6379", joined=True,
                       nodes=["10.0.0.1:1", "10.0.0.2:1"], cpus=12, gpus=1)
    assert info.line() == "Ray cluster at 10.0.0.1:6379: 2 nodes, 12 CPUs, 1 GPUs"
    local = ClusterInfo(address="local", joined=False, nodes=["127.0.0.1:1"], cpus=4, gpus=0)
    assert local.line() == "local Ray instance: 1 node, 4 CPUs, 0 GPUs"
