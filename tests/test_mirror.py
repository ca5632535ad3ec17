"""An object-store root's local working copy (codesweep.mirror) on a real S3-compatible server:
where it lies, what pull and push move, and node-local copies of stored model directories."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from codesweep.errors import CodesweepError
from codesweep.experiment import load_experiment, stored_checkpoints, with_scheme
from codesweep.mirror import Mirror, mirror_home
from codesweep.records import TrialResult
from codesweep.storage import StorageRef, fetched, resolve_storage
from codesweep.sweep_state import clear_old_sweep


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CODESWEEP_STORAGE", "CODESWEEP_CACHE", "CODESWEEP_MIRROR"):
        monkeypatch.delenv(name, raising=False)


def write_tuning(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.yaml").write_text("name: p\nsources: [{path: src}]\n")
    path = folder / "tuning.yaml"
    path.write_text(yaml.safe_dump({"name": "wired", "pipeline": "pipeline.yaml"}))
    return path


def test_object_store_root_works_on_a_mirror_outside_the_working_directory(
        s3_root: StorageRef, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    recipe = write_tuning(work)
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exp = load_experiment(recipe, [], None, None, storage=s3_root.uri)
    home = tmp_path / "xdg" / "codesweep" / "mirror" / "s3" / s3_root.path
    assert exp.run_dir == home / "runs" / "wired"
    assert exp.cache_root == home / ".cache" / "codesweep"
    assert exp.run_ref.uri == f"{s3_root.uri}/runs/wired"
    assert sorted(p.name for p in work.iterdir()) == ["pipeline.yaml", "tuning.yaml"]
    monkeypatch.setenv("CODESWEEP_MIRROR", str(tmp_path / "chosen"))
    assert mirror_home(s3_root) == tmp_path / "chosen"


def test_missing_bucket_is_one_line_before_anything_syncs(s3_env: str, tmp_path: Path) -> None:
    with pytest.raises(CodesweepError, match="s3://no-such-bucket/runs: bucket") as caught:
        load_experiment(write_tuning(tmp_path), [], None, None, storage="s3://no-such-bucket/runs")
    assert "\n" not in str(caught.value)


def test_push_then_pull_on_another_machine(s3_root: StorageRef, tmp_path: Path) -> None:
    first = Mirror(s3_root, tmp_path / "one", "runs/wired")
    for name, text in (("run.json", "{}"), ("eval/summary.json", "[]"),
                       ("train/t1/x", "ray's"), ("sweep/tuner.pkl", "ray's"),
                       (".codesweep.lock", "")):
        (first.run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (first.run_dir / name).write_text(text)
    first.push_run()
    assert s3_root.child("runs", "wired").list(recursive=True) == [
        "eval", "eval/summary.json", "run.json"]  # Ray's own dirs and the lock stay out

    second = Mirror(s3_root, tmp_path / "two", "runs/wired")
    second.pull()
    assert (second.run_dir / "eval" / "summary.json").read_text() == "[]"
    assert not (second.run_dir / "train").exists()


def test_push_sends_changed_files_only(s3_root: StorageRef, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = Mirror(s3_root, tmp_path / "m", "runs/wired")
    mirror.run_dir.mkdir(parents=True)
    (mirror.run_dir / "run.json").write_text("{}")
    (mirror.run_dir / "sweep_state.json").write_text('{"status": "running"}')
    mirror.push_run()
    sent: list[str] = []
    original = StorageRef.write_bytes
    monkeypatch.setattr(StorageRef, "write_bytes",
                        lambda ref, data: (sent.append(ref.name), original(ref, data)))
    (mirror.run_dir / "sweep_state.json").write_text('{"status": "done!!!"}')  # same size
    mirror.push_run()
    assert sent == ["sweep_state.json"]
    assert s3_root.child("runs", "wired", "sweep_state.json").read_text() == \
        '{"status": "done!!!"}'


def test_stored_directory_is_fetched_once_per_node(s3_root: StorageRef, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = Mirror(s3_root, tmp_path / "m", "runs/wired")
    base = mirror.cache_dir / "models" / "tiny-1"
    base.mkdir(parents=True)
    (base / "config.json").write_text('{"a": 1}')
    stored = mirror.push_dir(base)
    assert stored.uri == f"{s3_root.uri}/.cache/codesweep/models/tiny-1"
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "node"))
    local = Path(str(fetched(stored.uri)))
    assert local.is_relative_to(tmp_path / "node")
    assert (local / "config.json").read_text() == '{"a": 1}'
    monkeypatch.setattr(StorageRef, "download_dir", lambda *a: pytest.fail("downloaded twice"))
    assert fetched(stored.uri) == str(local)
    assert fetched("/plain/path") == "/plain/path" and fetched(None) is None


def test_a_fresh_sweep_clears_ray_storage_too(s3_root: StorageRef, tmp_path: Path) -> None:
    run = s3_root.child("runs", "wired")
    for name in ("train/t1/checkpoint_000000/a", "sweep/tuner.pkl", "trials.json"):
        run.child(name).write_text("x")
    clear_old_sweep(tmp_path, storage=run)
    assert run.list() == ["trials.json"]


def test_ray_checkpoint_paths_become_uris_and_stored_ones_are_listed(
        s3_root: StorageRef) -> None:
    kept = s3_root.child("runs/wired/train/t1/checkpoint_000001")
    kept.child("adapter_config.json").write_text("{}")
    history = [{"step": 2, "checkpoint_path": s3_root.child("runs/wired/train/t1/"
                                                            "checkpoint_000000").path},
               {"step": 4, "checkpoint_path": kept.path}]
    trial = TrialResult(trial_id="t1", params={}, status="done", final={}, history=history,
                        checkpoint=kept.path)
    [named] = with_scheme([trial], resolve_storage(s3_root.uri))
    assert named.checkpoint == kept.uri
    assert [c.step for c in stored_checkpoints(named)] == [4]  # step 2 was deleted by retention
    assert with_scheme([trial], resolve_storage(str(Path.cwd()))) == [trial]


def test_evaluation_rows_go_to_storage_and_come_back(s3_root: StorageRef,
                                                     tmp_path: Path) -> None:
    import pandas as pd

    from codesweep.config.schema import EvalTask
    from codesweep.evaluation.runner import Pair, _store, is_stored, result_location
    from codesweep.mirror import sync_down
    from codesweep.records import BASE

    results = s3_root.child("runs/wired/eval/results")
    location = result_location(results, "k1")
    assert location == f"{results.uri}/k1.parquet" and not is_stored(location)
    task = EvalTask.model_validate({"name": "t", "dataset": "completion", "split": "test",
                                    "metrics": ["exact_match"]})
    _store(Pair(BASE, task, location), pd.DataFrame({"prediction": ["x"]}))
    assert is_stored(location)
    sync_down(results, tmp_path / "results")
    rows = pd.read_parquet(tmp_path / "results" / "k1.parquet")
    assert rows["prediction"].tolist() == ["x"] and rows["checkpoint"].tolist() == ["base"]


def test_a_run_on_an_object_store_root_is_found_by_name(
        s3_root: StorageRef, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`codesweep report NAME --storage s3://...` from another machine: the run comes down
    into that machine's mirror, its report goes back up; an unknown name is one line."""
    from test_leaderboard import make_finished_run
    from typer.testing import CliRunner

    from codesweep.cli.app import app

    first = Mirror(s3_root, tmp_path / "one", "runs/r1")
    make_finished_run(first.run_dir, tmp_path / "suite.yaml")
    first.push_run()
    monkeypatch.setenv("CODESWEEP_MIRROR", str(tmp_path / "two"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", "r1", "--storage", s3_root.uri])
    assert result.exit_code == 0, result.output
    assert "Leaderboard" in result.output and "t2" in result.output
    assert s3_root.child("runs", "r1", "report", "leaderboard.md").exists()
    assert (tmp_path / "two" / "runs" / "r1" / "trials.json").is_file()
    missing = CliRunner().invoke(app, ["report", "r9", "--storage", s3_root.uri])
    assert missing.exit_code == 2
    assert f"{s3_root.uri}/runs/r9: no run named 'r9'" in missing.output
