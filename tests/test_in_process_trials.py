"""Single-worker CPU runs use Ray Train's local mode: the train function runs in the calling
process, checkpoints are still kept under the run's storage, and a second fit resumes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_train_tasks import make_workspace, task_spec

from codesweep.train.in_trial import runs_in_process
from codesweep.train.ray_worker import make_trainer, train_worker


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("in_process"))


def test_single_cpu_worker_runs_in_process_only() -> None:
    recipe = task_spec(Path("/x")).recipe
    one_cpu = recipe.train.model_copy(update={"num_workers": 1})
    assert runs_in_process(one_cpu)
    assert not runs_in_process(one_cpu.model_copy(update={"num_workers": 2}))
    assert not runs_in_process(one_cpu.model_copy(update={"gpus_per_worker": 1}))


def test_local_mode_trains_here_keeps_checkpoints_and_resumes(
        ray_session, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from codesweep.train import in_trial
    spec = task_spec(workspace, data={"loader": "direct"},
                     train={"num_workers": 1, "max_steps": 4, "report_every": 2})
    pids: list[int] = []

    def recording_worker(config: dict) -> None:
        pids.append(os.getpid())  # only visible here if the function ran in this process
        train_worker(config)

    storage = tmp_path / "train"
    result = make_trainer(spec, name="solo", storage_path=storage, callbacks=[],
                          train_fn=recording_worker).fit()
    assert pids == [os.getpid()]
    assert result.metrics["step"] == 4
    assert Path(result.checkpoint.path) == storage / "solo" / "checkpoint_4"
    assert (storage / "solo" / "checkpoint_4" / "adapter_model.safetensors").is_file()
    kept: list[Path] = []  # one entry per checkpoint the second fit writes
    monkeypatch.setattr(in_trial, "prune", lambda out_dir, *rule: kept.append(out_dir) or [])
    longer = spec.model_copy(update={"recipe": spec.recipe.model_copy(update={
        "train": spec.recipe.train.model_copy(update={"max_steps": 6})})})
    again = make_trainer(longer, name="solo", storage_path=storage, callbacks=[],
                         train_fn=recording_worker).fit()
    assert again.metrics["step"] == 6 and len(kept) == 1  # resumed: only steps 5-6 ran
    assert again.metrics.get("checkpoint_path") == str(storage / "solo" / "checkpoint_6")
