"""Reports held for their checkpoint's score reach Tune in step order, each with its own score."""

from __future__ import annotations

import os

from codesweep.tune.eval_reporting import HeldReports


def test_reports_wait_for_their_own_score_and_keep_step_order() -> None:
    held = HeldReports()
    done: set[str] = set()
    scores = {"s1": {"eval.comp.edit_sim": 10.0}, "s2": {"eval.comp.edit_sim": 20.0}}
    held.add({"step": 1}, "s1")
    held.add({"step": 2}, "s2")
    held.add({"step": 3}, None)  # no checkpoint: nothing to score

    def release() -> list[dict]:
        return held.release(lambda ref: ref in done, scores.__getitem__)

    assert release() == []  # step 1's score still computing: nothing may overtake it
    done.add("s2")
    assert release() == []
    done.add("s1")
    assert release() == [{"step": 1, "eval.comp.edit_sim": 10.0},
                         {"step": 2, "eval.comp.edit_sim": 20.0}, {"step": 3}]
    assert len(held) == 0


def test_trials_that_score_in_training_leave_room_for_their_scoring_task(ray_session) -> None:
    """On 4 logical CPUs (2 cores), two single-worker trials fill every CPU with their
    drivers and workers; with a 1-CPU scoring task each, only one fits at a time."""
    from pathlib import Path

    from test_train_tasks import task_spec

    from codesweep.tune.sweep import max_concurrent

    recipe = task_spec(Path("/x")).recipe
    recipe = recipe.model_copy(update={"train": recipe.train.model_copy(
        update={"num_workers": 1, "cpus_per_worker": 1})})
    assert ray_session.cluster_resources()["CPU"] == 4
    assert max_concurrent(recipe) == min(2, os.cpu_count() or 1)
    assert max_concurrent(recipe, scoring_cpus=1) == 1


def test_a_finished_trial_keeps_only_retained_checkpoints_that_tune_saw(tmp_path) -> None:
    """ASHA stopped the trial after its first two reports; c3 and c4 were written while
    their scores were pending. Kept: the retention rule's pick of the reported ones."""
    from codesweep.tune.eval_reporting import settle_checkpoints

    for name in ("c1", "c2", "c3", "c4"):
        (tmp_path / f"checkpoint_{name}").mkdir()
    reported = [(str(tmp_path / "checkpoint_c1"), 2.0), (str(tmp_path / "checkpoint_c2"), 3.0)]
    settle_checkpoints(str(tmp_path), reported, keep=1, keep_by="val_loss")
    # c1 is the best by val_loss, c2 the newest reported (a run resumes from its newest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_c1", "checkpoint_c2"]
    settle_checkpoints(str(tmp_path), reported, keep=1, keep_by="last")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_c2"]


def test_retention_on_an_object_store_root_reads_the_paths_ray_reports(s3_root) -> None:
    """Ray reports a checkpoint on S3 as a path inside the bucket (`bucket/prefix/...`), no
    scheme. Settling a finished trial must match those to what the bucket holds: read as
    local paths they matched nothing, and every checkpoint of the trial was deleted."""
    from codesweep.tune.eval_reporting import settle_checkpoints

    trial = s3_root.child("sweep", "trial_a")
    for name in ("c1", "c2", "c3", "c4"):
        trial.child(f"checkpoint_{name}", "adapter_config.json").write_text("{}")
    reported = [(trial.child("checkpoint_c1").path, 2.0), (trial.child("checkpoint_c2").path, 3.0)]
    assert not reported[0][0].startswith("s3://")
    deleted = settle_checkpoints(trial.uri, reported, keep=1, keep_by="val_loss")
    assert sorted(deleted) == [trial.child("checkpoint_c3").uri, trial.child("checkpoint_c4").uri]
    assert sorted(trial.list()) == ["checkpoint_c1", "checkpoint_c2"]
