"""The Ray Train side: a worker entry point and the TorchTrainer a sweep trial launches."""

from __future__ import annotations

import contextlib
import functools
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codesweep.config.schema import DataConfig, TuningRecipe
from codesweep.records import PreparedDataRef, TrialSpec
from codesweep.storage import fetched, ref_for
from codesweep.train.examples import columns, read_split, rows_of, split_dir
from codesweep.train.in_trial import runs_in_process
from codesweep.train.loop import WorkerEnv, train_lora
from codesweep.train.resume import usable_checkpoint

SPEC = "spec"  # the key of the TrialSpec in Ray Train's train_loop_config
IN_PROCESS_DIR = "in_process_dir"  # set in local mode: where this run's checkpoints go


def train_worker(config: dict[str, Any]) -> None:
    """Ray Train worker: stream this worker's Ray Data shard and run the training loop."""
    import ray.train
    import ray.train.torch

    spec = on_this_node(config[SPEC])
    if config.get(IN_PROCESS_DIR):
        _train_in_process(spec, Path(config[IN_PROCESS_DIR]))
        return
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    data, prepared = spec.recipe.data, spec.prepared
    with _resume_dir() as resume_dir:
        env = WorkerEnv(
            texts=lambda: _train_rows(prepared, data, rank, world),
            val_texts=lambda: read_split(prepared, data, "validation"),
            report=_report, rank=context.get_world_rank(),
            world_size=context.get_world_size(), resume_dir=resume_dir,
            # The loop places the model itself (quantized weights cannot be moved).
            wrap_model=functools.partial(ray.train.torch.prepare_model, move_to_device=False),
            device=str(ray.train.torch.get_device()), local_rank=context.get_local_rank(),
        )
        train_lora(spec, env)


def on_this_node(spec: TrialSpec) -> TrialSpec:
    """The spec with a base model in storage replaced by this node's copy of it."""
    return spec.model_copy(update={"base_path": fetched(spec.base_path)})


def _train_in_process(spec: TrialSpec, out_dir: Path) -> None:
    """Local mode: one worker, this process; resumes from the newest kept checkpoint."""
    from codesweep.train.in_trial import in_process_report
    from codesweep.train.local import latest_checkpoint

    data, prepared = spec.recipe.data, spec.prepared
    env = WorkerEnv(texts=lambda: _train_rows(prepared, data, 0, 1),
                    val_texts=lambda: read_split(prepared, data, "validation"),
                    report=in_process_report(out_dir, spec.recipe.train),
                    resume_dir=latest_checkpoint(out_dir))
    train_lora(spec, env)


def _train_rows(prepared: PreparedDataRef, data: DataConfig, rank: int,
                world: int) -> Iterator[Any]:
    """This worker's training rows: its Ray Data shard, or its share of the split read
    directly (only the row groups that hold it)."""
    import ray.train

    if data.loader == "direct":
        yield from read_split(prepared, data, "train", rank, world)
        return
    shard = ray.train.get_dataset_shard("train")
    for batch in shard.iter_batches(batch_size=64, batch_format="pandas"):
        yield from rows_of(batch, data)


@contextlib.contextmanager
def _resume_dir() -> Iterator[Path | None]:
    import ray.train

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as directory:
        yield usable_checkpoint(Path(directory), warn=_warn)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _report(metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
    import ray.train

    if checkpoint_dir is None:
        ray.train.report(metrics)
        return
    # Every rank that passes a directory adds its files to the same checkpoint (DeepSpeed
    # optimizer shards); a plain run passes one from rank 0 only.
    ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(str(checkpoint_dir)))
    shutil.rmtree(checkpoint_dir, ignore_errors=True)  # Ray copied it to storage_path


def one_node() -> bool:
    """True when the connected Ray cluster (if any) has a single live node."""
    import ray

    return not ray.is_initialized() or sum(1 for n in ray.nodes() if n["Alive"]) <= 1


def make_trainer(spec: TrialSpec, name: str, storage_path: Path | str,
                 callbacks: list[Any], train_fn: Any = None,
                 allow_in_process: bool = True, keep_every_checkpoint: bool = False) -> Any:
    """A TorchTrainer for one training run, resumable under the same (storage_path, name).

    Retention follows `train.keep_checkpoints` / `train.keep_by` (Ray always keeps the newest
    too), unless `keep_every_checkpoint` leaves retention to a callback; up to
    `train.max_failures` worker failures restart the workers from the newest
    checkpoint. `storage_path` may be a path or a storage URI: Ray writes checkpoints through
    its filesystem, so workers on every node write under the same root.
    """
    import ray.data
    import ray.train
    from ray.train.torch import TorchTrainer

    recipe = spec.recipe
    train_cfg = recipe.train
    resources = {"CPU": train_cfg.cpus_per_worker}
    if train_cfg.gpus_per_worker:
        resources["GPU"] = train_cfg.gpus_per_worker
    # On one machine a single CPU worker trains in the trial's own process; on a cluster of
    # several nodes it stays a Train worker, which the scheduler may place on any node.
    # Local mode writes its checkpoints itself, to a local directory: with storage elsewhere
    # (an object store) a Train worker reports them and Ray uploads them.
    in_process = allow_in_process and runs_in_process(train_cfg) and one_node() and \
        ref_for(str(storage_path)).is_local
    source = split_dir(spec.prepared, recipe.data, "train")
    datasets: dict[str, Any] = {}
    if recipe.data.loader == "ray_data":  # `direct` workers read the Parquet split themselves
        filesystem, path = ref_for(source).pyarrow_target()
        datasets["train"] = ray.data.read_parquet(
            path, filesystem=filesystem).select_columns(columns(recipe.data))
    return TorchTrainer(
        train_fn or train_worker,
        # the validated object: workers do not re-validate
        train_loop_config={SPEC: spec, IN_PROCESS_DIR: str(Path(storage_path) / name)
                           if in_process else None},
        # num_workers=0 is Ray Train's local mode: the train function runs in this process
        scaling_config=ray.train.ScalingConfig(
            num_workers=0 if in_process else train_cfg.num_workers,
            use_gpu=bool(train_cfg.gpus_per_worker),
            resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=name, **ref_for(str(storage_path)).ray_storage(), callbacks=callbacks,
            checkpoint_config=(ray.train.CheckpointConfig() if keep_every_checkpoint
                               else checkpoint_config(recipe)),
            failure_config=ray.train.FailureConfig(max_failures=train_cfg.max_failures)),
        datasets=datasets,
    )


def checkpoint_config(recipe: TuningRecipe) -> Any:
    """Ray's CheckpointConfig for the recipe's retention rule."""
    import ray.train

    train = recipe.train
    if train.keep_by == "val_loss":
        return ray.train.CheckpointConfig(num_to_keep=train.keep_checkpoints,
                                          checkpoint_score_attribute="val_loss",
                                          checkpoint_score_order="min")
    return ray.train.CheckpointConfig(num_to_keep=train.keep_checkpoints)


def train_on_ray(spec: TrialSpec, name: str, storage: Path) -> tuple[dict[str, Any], str | None]:
    """One Ray Train run to the end: (last metrics, final checkpoint location or None)."""
    result = make_trainer(spec, name=name, storage_path=storage, callbacks=[]).fit()
    return dict(result.metrics or {}), result.checkpoint.path if result.checkpoint else None
