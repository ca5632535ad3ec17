"""`prepare`: sources -> read & filter -> decontaminate -> exact dedup -> near dedup -> split
-> task builders (eval examples found in earlier splits dropped) -> Parquet + manifest, on
Ray (tasks and Ray Data), cached by a content hash of the inputs.
The steps, their names and their order are `codesweep.corpus.steps`.

Public contract (other stages depend on it):
    prepare(config, *, recipe_dir, cache_root, force=False) -> PreparedData(path, manifest, reused)
Layout of `path`: files/<split>/, exclusions/, tasks/<task>/<split>/ (Parquet dirs), manifest.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesweep.config.pipeline import PipelineConfig
from codesweep.corpus.decontam import BenchmarkIndex, build_index
from codesweep.corpus.manifest import (
    base_manifest,
    cache_key,
    check_prepared,
    read_manifest,
    write_manifest,
)
from codesweep.corpus.output import publish, staging_dir
from codesweep.corpus.sources import resolve_sources
from codesweep.corpus.steps import PrepareState, run_steps
from codesweep.locks import dataset_lock
from codesweep.resources import one_line_resource_errors

Progress = Callable[[str], None]


@dataclass
class PreparedData:
    """A prepared dataset on disk: its directory, its manifest, and whether it was reused."""

    path: Path
    manifest: dict
    reused: bool


class StepTimer:
    """Wall-clock seconds per named step, reported in the manifest."""

    def __init__(self, progress: Progress) -> None:
        self.seconds: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        self.progress(f"{step} ...")
        start = time.perf_counter()
        yield
        self.seconds[step] = round(time.perf_counter() - start, 3)


def output_dir(cache_root: Path, config: PipelineConfig, key: str) -> Path:
    """Where a prepared dataset with this key lives."""
    return cache_root / "prepared" / f"{config.name}-{key[:12]}"


def prepare(config: PipelineConfig, *, recipe_dir: Path, cache_root: Path, force: bool = False,
            progress: Progress | None = None, verify: bool = False) -> PreparedData:
    """Prepare (or reuse) the datasets a pipeline recipe describes.

    Relative source paths resolve against `recipe_dir`; outputs go under
    `<cache_root>/prepared/<name>-<key[:12]>/`, written in a staging dir and renamed. A
    cached output is reused when its files match the manifest's checksums (every byte with
    `verify`), else rebuilt with a note; one process builds a key at a time.
    """
    say = progress or (lambda message: None)
    timer = StepTimer(say)
    cache_root, recipe_dir = Path(cache_root), Path(recipe_dir)
    with timer("sources"):
        sources = resolve_sources(config, recipe_dir, cache_root)
        bench = build_index(config.decontam, recipe_dir) if config.decontam.enabled else None
    key = cache_key(config, sources, bench.digest() if bench else "")
    final = output_dir(cache_root, config, key)
    if (final / "manifest.json").is_file() and not force:
        problem = check_prepared(final, full=verify)
        if problem is None:
            say(f"reusing {final}")
            return PreparedData(final, read_manifest(final), reused=True)
        say(f"rebuilding the prepared data: {problem}")
    # readers need no lock: the output appears by rename; a full disk under Ray Data's
    # writers names no file, so the error names the dataset
    with dataset_lock(final, note=say), one_line_resource_errors(final, path_wins=True):
        return build(config, sources, bench, key, final, timer)


def build(config: PipelineConfig, sources: list, bench: BenchmarkIndex | None, key: str,
          final: Path, timer: StepTimer) -> PreparedData:
    """Run the pipeline into a staging dir, write its manifest, rename it onto `final`."""
    manifest = base_manifest(config, key, sources)
    with staging_dir(final) as staging:
        manifest.update(run_on_ray(config, sources, bench, staging, timer))
        manifest["timings"] = timer.seconds
        write_manifest(staging, manifest)
        publish(staging, final)
    return PreparedData(final, manifest, reused=False)


def run_on_ray(config: PipelineConfig, sources: list, bench: BenchmarkIndex | None,
               staging: Path, timer: StepTimer) -> dict[str, Any]:
    """Run every step of the pipeline on Ray into `staging`; return the manifest's
    counts."""
    from codesweep.corpus import ray_steps
    from codesweep.ray_runtime import ensure_ray

    ensure_ray(trials=False)  # a no-op where a command that runs trials connected first
    with ray_steps.ray_data_settings():
        partitions = config.dedup.partitions or ray_steps.default_partitions()
        return run_steps(PrepareState(config, sources, bench, staging, partitions), timer)
