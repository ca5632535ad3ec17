"""The run directory's records, the one atomic writer, and the one cache root."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from codesweep.config.schema import TuningRecipe
from codesweep.errors import CodesweepError
from codesweep.experiment import cache_root
from codesweep.fileio import read_jsonl, write_atomic, write_json
from codesweep.records import (
    EvaluationRecord,
    PreparedDataRef,
    RunRecord,
    TrialResult,
    TrialSpec,
)
from codesweep.rundir import read_run, read_summary, read_trials, write_run, write_summary
from codesweep.tune.sweep import trial_recipe

PREPARED = PreparedDataRef(root="/data/prepared/tiny-0123456789ab", key="0123456789abcdef")


def run_record(**fields: object) -> RunRecord:
    return RunRecord(**{
        "name": "tiny", "recipe": "tuning.yaml", "prepared": PREPARED, "base_path": "/base",
        "sweep_key": "k", "tracking_uri": "sqlite:///m.db", "experiment": "codesweep",
        "codesweep_version": "0", **fields})


def test_run_record_round_trips_with_its_prepared_data_ref(tmp_path: Path) -> None:
    write_run(tmp_path, run_record(done_sweep="k"))
    again = read_run(tmp_path)
    assert again == run_record(done_sweep="k")
    assert again.prepared.name == "tiny-0123456789ab"
    assert again.prepared.files("train") == "/data/prepared/tiny-0123456789ab/files/train"


def test_prepared_locations_stay_uris() -> None:
    remote = PreparedDataRef(root="s3://bucket/prepared/tiny-0123", key="0123")
    assert remote.files("test") == "s3://bucket/prepared/tiny-0123/files/test"
    assert remote.tasks() == "s3://bucket/prepared/tiny-0123/tasks"
    assert remote.name == "tiny-0123"


def test_a_broken_run_json_is_a_one_line_error_naming_the_field(tmp_path: Path) -> None:
    data = run_record().model_dump(mode="json")
    data["prepared"] = "/data/prepared/tiny"  # the untyped form: a bare path
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(CodesweepError, match=r"run.json: prepared"):
        read_run(tmp_path)


def test_trials_name_the_entry_that_is_wrong(tmp_path: Path) -> None:
    good = TrialResult(trial_id="a", params={}, status="done", final={}, history=[])
    (tmp_path / "trials.json").write_text(json.dumps(
        [good.model_dump(mode="json"), {**good.model_dump(mode="json"), "status": "lost"}]))
    with pytest.raises(CodesweepError, match=r"trials.json\[1\]: status"):
        read_trials(tmp_path)


def test_summary_rows_are_flat_on_disk_and_records_in_code(tmp_path: Path) -> None:
    records = [EvaluationRecord(checkpoint="base", task="t", n=3, scores={"bleu": 12.5})]
    write_summary(tmp_path, records)
    on_disk = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert on_disk == [{"checkpoint": "base", "task": "t", "n": 3, "bleu": 12.5}]
    assert read_summary(tmp_path) == records


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    write_json(target, {"v": 1})

    def half_then_crash(staging: Path) -> None:
        staging.write_text('{"v": 2, "trunc')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, half_then_crash)
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_atomic_writer_replaces_directories_too(tmp_path: Path) -> None:
    def build(staging: Path) -> None:
        staging.mkdir()
        (staging / "config.json").write_text("{}")

    write_atomic(tmp_path / "model", build)
    assert (tmp_path / "model" / "config.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_jsonl_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n[1]\n')
    rows = read_jsonl(path)
    assert next(rows) == (1, {"a": 1})
    with pytest.raises(CodesweepError, match=r"rows.jsonl:3: expected a JSON object, got list"):
        next(rows)


@pytest.mark.parametrize("value", [None, ""])
def test_unset_or_empty_codesweep_cache_means_the_default(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None) -> None:
    monkeypatch.chdir(tmp_path)
    if value is None:
        monkeypatch.delenv("CODESWEEP_CACHE", raising=False)
    else:
        monkeypatch.setenv("CODESWEEP_CACHE", value)
    assert cache_root() == tmp_path / ".cache" / "codesweep"
    monkeypatch.setenv("CODESWEEP_CACHE", str(tmp_path / "elsewhere"))
    assert cache_root() == tmp_path / "elsewhere"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"


def recipe() -> TuningRecipe:
    return TuningRecipe.model_validate({"name": "t", "pipeline": "p.yaml",
                                        "lora": {"r": 4, "alpha": 8}})


def test_trial_spec_carries_the_recipe_object_and_round_trips_as_json() -> None:
    spec = TrialSpec(recipe=recipe(), base_path="/base", prepared=PREPARED, train_dir="/t")
    assert TrialSpec.model_validate_json(spec.model_dump_json()) == spec
    same = spec.recipe
    assert TrialSpec(recipe=same, base_path="/b", prepared=PREPARED).recipe is same


def test_trial_recipe_applies_searched_values_and_keeps_the_base_otherwise() -> None:
    base = recipe()
    assert trial_recipe(base, {}) is base  # nothing searched: nothing to validate again
    trial = trial_recipe(base, {"lora.r": 16, "optim.lr": 1e-3})
    assert (trial.lora.r, trial.optim.lr, base.lora.r) == (16, 1e-3, 4)


class Recorded:
    """A Progress that keeps its lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, message: str) -> None:
        self.lines.append(message)

    def status(self, message: str):
        return contextlib.nullcontext()


def test_checkpoints_are_the_base_and_every_trial_that_left_one(tmp_path: Path) -> None:
    from codesweep.experiment import checkpoints_of
    from codesweep.records import BASE, CheckpointRef
    from codesweep.rundir import write_trials

    write_trials(tmp_path, [
        TrialResult(trial_id="a", params={}, status="done", final={"step": 4}, history=[],
                    checkpoint="/run/train/a/checkpoint_4"),
        TrialResult(trial_id="b", params={}, status="error", error="boom", final={},
                    history=[])])
    progress = Recorded()
    assert checkpoints_of(tmp_path, progress) == [
        BASE, CheckpointRef(trial_id="a", step=4, path="/run/train/a/checkpoint_4")]
    assert progress.lines == ["trial b has no checkpoint (error): not evaluated"]


def test_a_sweep_is_reused_only_under_the_same_key(tmp_path: Path) -> None:
    from codesweep.experiment import sweep_is_current
    from codesweep.rundir import write_trials

    finished = run_record(done_sweep="k")
    assert not sweep_is_current(tmp_path, finished)  # no trials.json yet
    write_trials(tmp_path, [])
    assert sweep_is_current(tmp_path, finished)
    assert not sweep_is_current(tmp_path, run_record(done_sweep="older"))
