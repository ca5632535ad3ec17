"""StorageRef on a local directory and on a real S3-compatible server (moto), plus the checks
that run before anything starts."""

from __future__ import annotations

import os
import pickle
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from codesweep.errors import CodesweepError
from codesweep.storage import StorageRef, StorageSetting, resolve_storage, to_uri
from codesweep.storage_checks import (
    aws_credentials_available,
    check_not_in_job_package,
    check_reachable,
    check_shared_across_nodes,
    mount_type,
    on_network_filesystem,
)

NO_ENV: dict[str, str] = {}


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> StorageRef:
    """The same tests on a local directory and on an S3 bucket."""
    if request.param == "local":
        return resolve_storage(str(tmp_path / "store"), env=NO_ENV)
    return request.getfixturevalue("s3_root")


# -- resolution and URIs ------------------------------------------------------------------


def test_resolution_order(tmp_path: Path) -> None:
    env = {"CODESWEEP_STORAGE": "s3://from-env/x"}
    assert resolve_storage("gs://from-cli/y", "s3://recipe/z", env=env).uri == "gs://from-cli/y"
    chosen = resolve_storage(None, "s3://recipe/z", env=env)
    assert (chosen.uri, chosen.origin) == ("s3://from-env/x", "$CODESWEEP_STORAGE")
    chosen = resolve_storage(None, {"uri": "s3://recipe/z"}, env=NO_ENV)
    assert (chosen.uri, chosen.origin) == ("s3://recipe/z", "recipe storage:")
    default = resolve_storage(env=NO_ENV, cwd=str(tmp_path))
    assert default.uri == f"file://{tmp_path}" and default.origin.startswith("default")
    # the laptop layout stays ./.cache/codesweep and ./runs
    assert default.child(".cache/codesweep").local_path() == tmp_path / ".cache" / "codesweep"


def test_a_uri_never_becomes_a_local_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    ref = resolve_storage("s3://bucket/runs", env=NO_ENV)
    assert ref.uri == "s3://bucket/runs" and ref.path == "bucket/runs"
    assert ref.child("exp", "trial_1").uri == "s3://bucket/runs/exp/trial_1"
    with pytest.raises(CodesweepError, match="not a local path"):
        ref.local_path()
    with pytest.raises(CodesweepError, match="malformed"):
        resolve_storage("s3:/bucket/runs", env=NO_ENV)
    with pytest.raises(CodesweepError, match="no bucket"):
        to_uri("s3:///runs")
    with pytest.raises(ValueError, match='unknown storage scheme "hdfs"'):
        StorageRef(uri="hdfs://namenode/x")
    assert not (tmp_path / "s3:").exists() and list(tmp_path.iterdir()) == []


def test_child_refuses_escapes() -> None:
    ref = resolve_storage("s3://bucket/runs", env=NO_ENV)
    for bad in ("../other", "a/../../b", "/abs"):
        with pytest.raises(CodesweepError, match="must be relative"):
            ref.child(bad)


def test_references_cross_process_boundaries() -> None:
    env = {"CODESWEEP_S3_ENDPOINT": "http://127.0.0.1:9000"}
    ref = resolve_storage("s3://bucket/runs", env=env).child("a")
    assert ref.endpoint == "http://127.0.0.1:9000"
    assert StorageRef.model_validate_json(ref.model_dump_json()) == ref
    assert pickle.loads(pickle.dumps(ref)) == ref


def test_endpoint_and_shared_settings(tmp_path: Path) -> None:
    env = {"AWS_ENDPOINT_URL": "http://aws-env:1", "CODESWEEP_S3_ENDPOINT": "http://ours:2"}
    assert resolve_storage("s3://b/p", env=env).endpoint == "http://ours:2"
    setting = StorageSetting(uri="s3://b/p", endpoint="http://recipe:3")
    assert resolve_storage(None, setting, env=env).endpoint == "http://recipe:3"
    assert resolve_storage(str(tmp_path), env=env).endpoint is None
    assert not resolve_storage(str(tmp_path), env=NO_ENV).shared
    assert resolve_storage(str(tmp_path), env={"CODESWEEP_STORAGE_SHARED": "1"}).shared
    assert resolve_storage(None, {"uri": str(tmp_path), "shared": True}, env=NO_ENV).shared


# -- operations, on both backends --------------------------------------------------------


def test_read_write_list_delete(root: StorageRef) -> None:
    run = root.child("exp")
    run.child("run.json").write_text('{"a": 1}')
    run.child("parts", "p0.bin").write_bytes(b"\x00\x01")
    assert run.child("run.json").read_text() == '{"a": 1}'
    assert run.child("parts/p0.bin").read_bytes() == b"\x00\x01"
    assert run.exists() and run.is_dir() and not run.child("nothing").exists()
    assert run.list() == ["parts", "run.json"]
    assert run.list(recursive=True) == ["parts", "parts/p0.bin", "run.json"]
    with pytest.raises(FileNotFoundError, match="nothing"):
        run.child("nothing").read_bytes()
    run.child("parts").delete_tree()
    assert run.list() == ["run.json"]
    run.delete_tree()
    assert not run.exists() and root.child("exp").list() == []


def test_overwrite_leaves_no_temp_files(root: StorageRef) -> None:
    target = root.child("exp", "report.md")
    target.write_text("old")
    target.write_text("new")
    assert target.read_text() == "new"
    assert root.child("exp").list() == ["report.md"]


def test_failed_local_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    target = resolve_storage(str(tmp_path), env=NO_ENV).child("run.json")
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        target.write_text("new")
    monkeypatch.undo()
    assert target.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["run.json"]


def test_directory_upload_and_download(root: StorageRef, tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "sub" / "weights.bin").write_bytes(b"w" * 1000)
    target = root.child("models", "tiny")
    target.child("stale.txt").write_text("from an earlier upload")
    target.upload_dir(model)
    assert target.list(recursive=True) == ["config.json", "sub", "sub/weights.bin"]
    with target.local_copy() as copy:
        assert (copy / "sub" / "weights.bin").read_bytes() == b"w" * 1000
        assert sorted(p.name for p in copy.iterdir()) == ["config.json", "sub"]
    with root.child("models", "staged").staged_upload() as scratch:
        (scratch / "adapter.bin").write_bytes(b"a")
    assert root.child("models", "staged", "adapter.bin").read_bytes() == b"a"


def test_parquet_through_pyarrow_fs(root: StorageRef) -> None:
    filesystem, path = root.child("prepared", "part-0.parquet").pyarrow_target()
    table = pa.table({"path": ["a.py", "b.py"], "size": [1, 2]})
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    pq.write_table(table, path, filesystem=filesystem)
    read = pq.read_table(root.child("prepared").path, filesystem=root.filesystem())
    assert read.to_pydict() == table.to_pydict()


def test_ray_storage_arguments(root: StorageRef) -> None:
    arguments = root.child("train").ray_storage()
    assert arguments["storage_path"] == root.child("train").path
    if root.is_local:
        assert "storage_filesystem" not in arguments
    else:
        assert isinstance(arguments["storage_filesystem"], pafs.S3FileSystem)


# -- checks before anything starts -------------------------------------------------------


def test_reachable_bucket_passes(s3_root: StorageRef, tmp_path: Path) -> None:
    check_reachable(s3_root, timeout_s=2)
    check_reachable(resolve_storage(str(tmp_path / "new"), env=NO_ENV))
    assert (tmp_path / "new").is_dir()


def test_missing_bucket_is_one_line(s3_env: str) -> None:
    ref = resolve_storage("s3://no-such-bucket-here/runs")
    with pytest.raises(CodesweepError, match="s3://no-such-bucket-here/runs: bucket "
                                              "'no-such-bucket-here' does not exist") as error:
        check_reachable(ref, timeout_s=2)
    assert "\n" not in str(error.value)


def test_unreachable_endpoint_is_one_line(s3_env: str, monkeypatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CODESWEEP_S3_ENDPOINT", f"http://127.0.0.1:{port}")
    ref = resolve_storage("s3://bucket/runs")
    with pytest.raises(CodesweepError, match=r"s3://bucket/runs: endpoint unreachable") as error:
        check_reachable(ref, timeout_s=1)
    assert f"127.0.0.1:{port}" in str(error.value) and "\n" not in str(error.value)


def test_missing_credentials_is_one_line(s3_env: str, monkeypatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    ref = resolve_storage("s3://bucket/runs")
    with pytest.raises(CodesweepError, match="s3://bucket/runs: no AWS credentials"):
        check_reachable(ref, timeout_s=1)


def test_credential_sources(tmp_path: Path) -> None:
    off = {"AWS_EC2_METADATA_DISABLED": "true"}
    assert not aws_credentials_available(off, home=tmp_path)
    keys = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    assert aws_credentials_available({**off, **keys}, home=tmp_path)
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    assert aws_credentials_available(off, home=tmp_path)


MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
tmpfs /tmp tmpfs rw 0 0
fs-1.efs:/ /mnt/efs nfs4 rw,vers=4.1 0 0
bucket /mnt/s3\\040data fuse.s3fs rw 0 0
"""


def test_mount_types() -> None:
    assert mount_type("/mnt/efs/runs", MOUNTS) == "nfs4"
    assert mount_type("/mnt/efsx", MOUNTS) == "ext4"
    assert mount_type("/mnt/s3 data/x", MOUNTS) == "fuse.s3fs"
    assert mount_type("/tmp/x", MOUNTS) == "tmpfs"
    assert on_network_filesystem("/mnt/s3 data/x", MOUNTS)
    assert not on_network_filesystem("/tmp/x", MOUNTS)


def test_local_root_refused_on_several_nodes(tmp_path: Path) -> None:
    local = resolve_storage(str(tmp_path), env=NO_ENV)
    nodes = ["10.0.0.1", "10.0.0.2"]
    with pytest.raises(CodesweepError) as error:
        check_shared_across_nodes(local, nodes, MOUNTS)
    message = str(error.value)
    assert "default" not in message and "--storage" in message
    assert "2 nodes (10.0.0.1, 10.0.0.2)" in message and str(tmp_path) in message
    check_shared_across_nodes(local, ["10.0.0.1"], MOUNTS)             # one node: fine
    check_shared_across_nodes(local.model_copy(update={"shared": True}), nodes, MOUNTS)
    check_shared_across_nodes(resolve_storage("s3://b/p", env=NO_ENV), nodes, MOUNTS)
    on_nfs = resolve_storage("/mnt/efs/runs", env=NO_ENV)
    check_shared_across_nodes(on_nfs, nodes, MOUNTS)


def test_job_package_directory_refused() -> None:
    inside = resolve_storage(
        "/tmp/ray/session_1/runtime_resources/working_dir_files/_ray_pkg_abc", env=NO_ENV)
    with pytest.raises(CodesweepError, match="temporary job directory"):
        check_not_in_job_package(inside)
    check_not_in_job_package(resolve_storage("/data/codesweep", env=NO_ENV))
