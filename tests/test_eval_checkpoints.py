"""The full suite over every retained checkpoint: results keyed by base, adapter content,
prepared data and task settings (changed inputs re-scored, the rest reused), one base load
for many adapters with the same greedy predictions as loading each checkpoint, failures
recorded per pair with their reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from eval_support import make_base, make_prepared, save_adapter

from codesweep.config.schema import EvalSuite
from codesweep.evaluation.runner import (
    EvalInputs,
    EvalWorker,
    Job,
    Outcome,
    content_hash,
    label,
    plan,
    summarize,
)
from codesweep.records import BASE, CheckpointRef

SUITE = EvalSuite(name="s", num_actors=1, tasks=[
    {"name": "comp", "dataset": "completion", "metrics": ["exact_match", "edit_sim"],
     "generation": {"max_new_tokens": 6, "batch_size": 4}},
    {"name": "he", "benchmark": "humaneval_single_line", "benchmark_params": {"limit": 2},
     "metrics": ["exact_match"], "k": [1], "generation": {"max_new_tokens": 6}}])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("evalckpt")
    base, texts = make_base(root)
    trial = root / "train" / "t1"
    checkpoints = [BASE] + [
        CheckpointRef(trial_id="t1", step=step,
                      path=str(save_adapter(base, trial / f"checkpoint_{step}", step, step)))
        for step in (2, 4)]
    inputs = EvalInputs(str(base), content_hash(str(base)), make_prepared(root, texts),
                        "float32")
    return {"root": root, "checkpoints": checkpoints, "inputs": inputs}


def run_jobs(jobs: list[Job], inputs: EvalInputs) -> dict[str, str]:
    worker = EvalWorker(1, inputs.base_path, inputs.dtype)
    failed: dict[str, str] = {}
    for job in jobs:
        failed.update(worker.evaluate(job).failed)
    return failed


def test_unchanged_pairs_are_reused_and_changed_inputs_rescored(workspace: dict,
                                                                 tmp_path: Path) -> None:
    inputs, checkpoints = workspace["inputs"], workspace["checkpoints"]
    suite = SUITE.model_copy(update={"tasks": SUITE.tasks[:1]})
    jobs, reused = plan(suite, checkpoints, tmp_path, inputs)
    assert (sum(len(job.pairs) for job in jobs), reused) == (3, 0)
    assert run_jobs(jobs, inputs) == {}
    assert plan(suite, checkpoints, tmp_path, inputs) == ([], 3)
    summary = summarize(suite, checkpoints, tmp_path, inputs)
    assert [(r.checkpoint, r.step, r.status) for r in summary] == [
        ("base", None, "ok"), ("t1", 2, "ok"), ("t1", 4, "ok")]
    # another base model (e.g. an edited model recipe): every pair, the base's included
    new_base = EvalInputs(inputs.base_path, "other-base", inputs.prepared, inputs.dtype)
    jobs, reused = plan(suite, checkpoints, tmp_path, new_base)
    assert ({label(p.checkpoint) for job in jobs for p in job.pairs}, reused) == (
        {"base", "t1@2", "t1@4"}, 0)
    # other prepared data: every pair; a changed task setting: every pair of that task
    new_data = EvalInputs(inputs.base_path, inputs.base_hash,
                          inputs.prepared.model_copy(update={"key": "k2"}), inputs.dtype)
    assert plan(suite, checkpoints, tmp_path, new_data)[1] == 0
    longer = suite.model_copy(update={"tasks": [suite.tasks[0].model_copy(
        update={"max_examples": 5})]})
    assert plan(longer, checkpoints, tmp_path, inputs)[1] == 0


def test_a_checkpoint_whose_weights_changed_is_rescored_alone(workspace: dict,
                                                             tmp_path: Path) -> None:
    inputs, checkpoints = workspace["inputs"], workspace["checkpoints"]
    suite = SUITE.model_copy(update={"tasks": SUITE.tasks[:1]})
    run_jobs(plan(suite, checkpoints, tmp_path, inputs)[0], inputs)
    moved = workspace["root"] / "train" / "t2" / "checkpoint_4"  # same name and step, new weights
    save_adapter(Path(inputs.base_path), moved, seed=99, step=4)
    changed = [*checkpoints[:2], CheckpointRef(trial_id="t1", step=4, path=str(moved))]
    jobs, reused = plan(suite, changed, tmp_path, inputs)
    assert ([label(p.checkpoint) for job in jobs for p in job.pairs], reused) == (["t1@4"], 2)


def test_mixed_adapter_batches_match_loading_each_checkpoint(workspace: dict,
                                                             tmp_path: Path) -> None:
    inputs, checkpoints = workspace["inputs"], workspace["checkpoints"]
    suite = SUITE.model_copy(update={"tasks": SUITE.tasks[:1]})
    [mixed] = plan(suite, checkpoints, tmp_path / "mixed", inputs)[0]
    assert mixed.mixed and len(mixed.pairs) == 3
    alone = Job(mixed.task, [p.__class__(p.checkpoint, p.task, p.path.replace("mixed", "alone"))
                             for p in mixed.pairs], mixed.examples, mixed=False)
    for directory in ("mixed", "alone"):
        (tmp_path / directory).mkdir()
    assert run_jobs([mixed, alone], inputs) == {}
    predictions = {
        kind: [pd.read_parquet(p.path)["prediction"].tolist() for p in job.pairs]
        for kind, job in (("mixed", mixed), ("alone", alone))}
    assert predictions["mixed"] == predictions["alone"]
    assert predictions["mixed"][1] != predictions["mixed"][0]  # the adapters do decode unlike
    # the base, so the mixed batch did route rows to their own adapter


def test_sandbox_unavailable_fails_its_pairs_with_the_reason(workspace: dict, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    import codesweep.execution

    def unavailable(*args: object, **kwargs: object) -> None:
        raise RuntimeError("sandbox unavailable: no isolation level works here")

    monkeypatch.setattr(codesweep.execution, "run_samples", unavailable)
    inputs, checkpoints = workspace["inputs"], workspace["checkpoints"][:2]
    failures = run_jobs(plan(SUITE, checkpoints, tmp_path, inputs)[0], inputs)
    assert len(failures) == 2 and all(
        reason == "RuntimeError: sandbox unavailable: no isolation level works here"
        for reason in failures.values())
    reason = next(iter(failures.values()))
    outcome = Outcome(failed={("base", "he"): reason, ("t1@2", "he"): reason})
    summary = summarize(SUITE, checkpoints, tmp_path, inputs, outcome)
    assert [(r.checkpoint, r.task, r.status) for r in summary] == [
        ("base", "comp", "ok"), ("base", "he", "failed"), ("t1", "comp", "ok"),
        ("t1", "he", "failed")]
    assert summary[1].reason.startswith("RuntimeError: sandbox unavailable")
    assert summary[1].row()["status"] == "failed"  # summary.json says so


def test_each_stage_is_timed_on_its_own(workspace: dict, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from codesweep.evaluation.multi_adapter import MultiAdapterEngine

    generate = MultiAdapterEngine.generate

    def slow_generate(self: MultiAdapterEngine, *args: object) -> list[str]:
        time.sleep(1.0)  # generation, and nothing else, takes at least a second
        return generate(self, *args)

    monkeypatch.setattr(MultiAdapterEngine, "generate", slow_generate)
    inputs, checkpoints = workspace["inputs"], workspace["checkpoints"]
    suite = SUITE.model_copy(update={"tasks": SUITE.tasks[:1]})
    [job] = plan(suite, checkpoints, tmp_path, inputs)[0]
    result = EvalWorker(1, inputs.base_path, inputs.dtype).evaluate(job)
    assert result.failed == {}
    timings = result.timings
    assert timings.generate_s >= 1.0
    assert 0 < timings.model_load_s < 1.0 and 0 < timings.score_s < 1.0
    assert timings.actor_start_s == 0  # the driver's share, not the actor's
    total = Outcome().timings
    total.add(timings)
    total.add(timings)
    assert total.generate_s == 2 * timings.generate_s
    assert total.line().startswith("actor start-up 0.0s, model load ")
