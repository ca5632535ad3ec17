"""The storage root as the commands use it: where it comes from, what lies under it, what is
refused before anything starts, and reads of prepared data through its filesystem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from codesweep.config.schema import DataConfig
from codesweep.errors import CodesweepError
from codesweep.experiment import (
    cache_root,
    load_experiment,
    opened_run,
    storage_root,
    sweep_key,
)
from codesweep.records import PreparedDataRef
from codesweep.storage import StorageRef
from codesweep.train.examples import read_split, read_texts, task_dir

TUNING = {"name": "wired", "pipeline": "pipeline.yaml", "lora": {"r": 4, "alpha": 8}}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CODESWEEP_STORAGE", "CODESWEEP_CACHE", "CODESWEEP_STORAGE_SHARED"):
        monkeypatch.delenv(name, raising=False)


def write_tuning(folder: Path, **extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.yaml").write_text("name: p\nsources: [{path: src}]\n")
    path = folder / "tuning.yaml"
    path.write_text(yaml.safe_dump({**TUNING, **extra}))
    return path


def test_default_root_keeps_the_working_directory_layout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exp = load_experiment(write_tuning(tmp_path), [], None, None)
    assert exp.root.uri == f"file://{tmp_path}"
    assert exp.run_dir == tmp_path / "runs" / "wired"
    assert exp.cache_root == tmp_path / ".cache" / "codesweep"


def test_storage_flag_beats_env_beats_recipe(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    recipe = write_tuning(tmp_path / "project", storage=str(tmp_path / "from-recipe"))
    exp = load_experiment(recipe, [], None, None)
    assert (exp.root.origin, exp.run_dir) == (
        "recipe storage:", tmp_path / "from-recipe" / "runs" / "wired")
    monkeypatch.setenv("CODESWEEP_STORAGE", str(tmp_path / "from-env"))
    exp = load_experiment(recipe, [], None, None)
    assert exp.cache_root == tmp_path / "from-env" / ".cache" / "codesweep"
    exp = load_experiment(recipe, [], None, None, storage=str(tmp_path / "from-flag"))
    assert exp.run_dir == tmp_path / "from-flag" / "runs" / "wired"
    assert exp.cache_root == tmp_path / "from-flag" / ".cache" / "codesweep"


def test_explicit_cache_and_run_dir_still_win(tmp_path: Path) -> None:
    exp = load_experiment(write_tuning(tmp_path), [], tmp_path / "mine", tmp_path / "cache",
                          storage=str(tmp_path / "root"))
    assert (exp.run_dir, exp.cache_root) == (tmp_path / "mine", tmp_path / "cache")


def test_unreachable_object_store_root_is_one_line(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Object-store roots are accepted (they run on a mirror, see test_mirror.py); one that
    cannot be reached stops the command at load, in one line naming the URI."""
    from s3_support import CREDENTIALS

    for name, value in {**CREDENTIALS, "CODESWEEP_S3_ENDPOINT": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CODESWEEP_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(CodesweepError, match="s3://bucket/runs: endpoint unreachable") as caught:
        load_experiment(write_tuning(tmp_path), [], None, None, storage="s3://bucket/runs")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "mirror").exists()  # nothing synced before the check


def test_root_inside_a_ray_job_package_is_refused(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "session" / "runtime_resources" / "working_dir_files" / "_ray_pkg_1"
    monkeypatch.chdir(write_tuning(package).parent)
    with pytest.raises(CodesweepError, match=r"temporary job directory.*CODESWEEP_STORAGE"):
        storage_root()
    monkeypatch.setenv("CODESWEEP_STORAGE", str(tmp_path / "kept"))
    assert storage_root().uri == f"file://{tmp_path}/kept"


def test_sweep_key_does_not_depend_on_checkout_path_or_storage(tmp_path: Path) -> None:
    first = write_tuning(tmp_path / "pkg_a")
    second = tmp_path / "pkg_b"
    shutil.copytree(first.parent, second)
    prepared = PreparedDataRef(root="/x/prepared/p-123", key="123")
    keys = set()
    for recipe, root in ((first, "root"), (second / "tuning.yaml", "root"),
                         (first, "elsewhere")):
        exp = load_experiment(recipe, [], None, tmp_path / root / "cache")
        keys.add(sweep_key(exp, prepared, str(exp.cache_root / "models" / "tiny-abc")))
    assert len(keys) == 1
    exp = load_experiment(first, ["lora.r=8"], None, tmp_path / "cache")
    assert sweep_key(exp, prepared, str(exp.cache_root / "models" / "tiny-abc")) not in keys


def test_run_found_by_name_under_the_root(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "root" / "runs" / "wired").mkdir(parents=True)
    def located(run: str, storage: str | None = None) -> Path:
        with opened_run(run, storage) as location:
            return location

    assert located("wired", str(tmp_path / "root")) == tmp_path / "root" / "runs" / "wired"
    assert located("wired") == tmp_path / "runs" / "wired"
    assert located(str(tmp_path / "root")) == tmp_path / "root"


def test_cache_root_follows_the_root(tmp_path: Path) -> None:
    root = StorageRef(uri=f"file://{tmp_path}/shared", shared=True)
    assert cache_root(None, root) == tmp_path / "shared" / ".cache" / "codesweep"


# -- reads of prepared data through the root's filesystem (a real S3-compatible server) ------


def put_parquet(location: StorageRef, frame: pd.DataFrame) -> None:
    filesystem, path = location.child("part-0.parquet").pyarrow_target()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                   filesystem=filesystem)


def test_training_rows_are_read_from_an_object_store(s3_root: StorageRef) -> None:
    prepared = PreparedDataRef(root=s3_root.child("prepared", "p-1").uri, key="1")
    files = s3_root.child("prepared", "p-1", "files", "train")
    put_parquet(files, pd.DataFrame({"text": ["b", "a"], "sha": ["2", "1"]}))
    pairs = s3_root.child("prepared", "p-1", "tasks", "completion", "train")
    put_parquet(pairs, pd.DataFrame({"prompt": ["p2", "p1"], "completion": ["c2", "c1"],
                                     "id": ["2", "1"]}))
    assert list(read_texts(prepared.files("train"))) == ["a", "b"]
    assert list(read_texts(prepared.files("train"), from_end=True)) == ["b", "a"]
    rows = list(read_split(prepared, DataConfig(task="completion"), "train"))
    assert rows == [("p1", "c1"), ("p2", "c2")]
    with pytest.raises(CodesweepError, match="no prepared task 'fim'.*prepared: completion"):
        task_dir(prepared, DataConfig(task="fim"))


@pytest.mark.parametrize(("setting", "kwargs", "extra"), [
    ("--run-dir", {"run_dir": Path("s3://bucket/runs/x")}, {}),
    ("--cache-dir", {"cache": Path("gs://bucket/cache")}, {}),
    ("run_dir", {}, {"run_dir": "s3://bucket/runs/x"}),
])
def test_uri_where_a_local_path_belongs_is_an_error_not_a_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, kwargs: dict,
        extra: dict) -> None:
    monkeypatch.chdir(tmp_path)
    recipe = write_tuning(tmp_path / "project", **extra)
    arguments = {"run_dir": None, "cache": None, **kwargs}
    with pytest.raises(CodesweepError, match=rf"^{setting}: .*(URI|malformed)"):
        load_experiment(recipe, [], arguments["run_dir"], arguments["cache"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]
