"""The Ray Train side: a worker entry point and the TorchTrainer a sweep trial launches."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codesweep.train.local import read_texts
from codesweep.train.loop import WorkerEnv, train_lora


def train_worker(spec: dict[str, Any]) -> None:
    """Ray Train worker: stream this worker's Ray Data shard and run the LoRA loop."""
    import ray.train
    import ray.train.torch

    context = ray.train.get_context()
    shard = ray.train.get_dataset_shard("train")
    files_dir = Path(spec["files_dir"])
    with _resume_dir() as resume_dir:
        env = WorkerEnv(
            texts=lambda: _shard_texts(shard),
            val_texts=lambda: read_texts(files_dir / "validation"),
            report=_report, rank=context.get_world_rank(),
            world_size=context.get_world_size(), resume_dir=resume_dir,
            wrap_model=ray.train.torch.prepare_model,
        )
        train_lora(spec, env)


def _shard_texts(shard: Any) -> Iterator[str]:
    for batch in shard.iter_batches(batch_size=64, batch_format="pandas"):
        yield from batch["text"]


@contextlib.contextmanager
def _resume_dir() -> Iterator[Path | None]:
    import ray.train

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as directory:
        yield Path(directory)


def _report(metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
    import ray.train

    if checkpoint_dir is None:
        ray.train.report(metrics)
        return
    ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(str(checkpoint_dir)))
    shutil.rmtree(checkpoint_dir, ignore_errors=True)  # Ray copied it to storage_path


def make_trainer(spec: dict[str, Any], name: str, storage_path: Path,
                 callbacks: list[Any]) -> Any:
    """A TorchTrainer for one training run, resumable under the same (storage_path, name)."""
    import ray.data
    import ray.train
    from ray.train.torch import TorchTrainer

    from codesweep.config.schema import TuningRecipe

    train_cfg = TuningRecipe.model_validate(spec["recipe"]).train
    resources = {"CPU": train_cfg.cpus_per_worker}
    if train_cfg.gpus_per_worker:
        resources["GPU"] = train_cfg.gpus_per_worker
    train_ds = ray.data.read_parquet(str(Path(spec["files_dir"]) / "train"), columns=["text"])
    return TorchTrainer(
        train_worker,
        train_loop_config=spec,
        scaling_config=ray.train.ScalingConfig(
            num_workers=train_cfg.num_workers, use_gpu=bool(train_cfg.gpus_per_worker),
            resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=name, storage_path=str(storage_path), callbacks=callbacks,
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            failure_config=ray.train.FailureConfig(max_failures=2)),
        datasets={"train": train_ds},
    )
