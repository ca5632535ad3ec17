"""The corpus pipeline as an ordered list of named steps behind one small protocol.

A step is any callable `step(state) -> None` that reads what earlier steps left on the
`PrepareState` (datasets, counts) and adds its own. Steps are registered by name in `STEPS`
(lazy targets, so listing them imports no Ray) and run in `PIPELINE` order, each timed under
its name in the manifest's `timings`. The Ray implementations are in
`codesweep.corpus.ray_steps`; the per-block functions they map are in `codesweep.corpus.blocks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from codesweep.config.pipeline import PipelineConfig
from codesweep.corpus.decontam import BenchmarkIndex
from codesweep.corpus.sources import ResolvedSource
from codesweep.registry import Registry


@dataclass
class PrepareState:
    """What the steps of one prepare share: the inputs, the staging directory, the datasets
    handed from step to step (Ray Data datasets, or object references to their blocks), and
    the manifest sections being filled."""

    config: PipelineConfig
    sources: list[ResolvedSource]
    bench: BenchmarkIndex | None
    staging: Path
    partitions: int
    report: dict[str, Any] = field(default_factory=dict)
    repo_splits: dict[str, str] | None = None  # repository -> split under `split.by: repo`
    read: Any = None  # every listed file's working row, after read & filter (and decontam)
    exact_marks: Any = None  # exact dedup's (drops, counts) lookups, or a reference to them
    near: Any = None  # object-store reference to near dedup's `dedup.NearClusters`
    near_found: bool = False  # whether near dedup found any pair
    final: Any = None  # kept and dropped rows, marked and split
    split_sets: dict[str, Any] = field(default_factory=dict)  # split -> its files' blocks


class Step(Protocol):
    """One pipeline step: reads and extends the shared state."""

    def __call__(self, state: PrepareState) -> None: ...


STEPS: Registry[Step] = Registry("corpus step")
STEPS.add("assign repos", "codesweep.corpus.ray_steps:assign_repos")
STEPS.add("read & filter", "codesweep.corpus.ray_steps:read_and_filter")
STEPS.add("decontaminate", "codesweep.corpus.ray_steps:decontaminate")
STEPS.add("exact dedup", "codesweep.corpus.ray_steps:exact_dedup")
STEPS.add("near dedup", "codesweep.corpus.ray_steps:near_dedup")
STEPS.add("mark & split", "codesweep.corpus.ray_steps:mark_and_split")
STEPS.add("count", "codesweep.corpus.ray_steps:count")
STEPS.add("leakage check", "codesweep.corpus.ray_steps:leakage_check")
STEPS.add("write", "codesweep.corpus.ray_steps:write_outputs")
STEPS.add("tasks", "codesweep.corpus.ray_steps:build_tasks")

# Decontamination runs before dedup: a contaminated file must not be a cluster's representative
# (its clean twin would already be dropped as its duplicate, leaving no copy).
PIPELINE = ["assign repos", "read & filter", "decontaminate", "exact dedup", "near dedup",
            "mark & split", "count", "leakage check", "write", "tasks"]

Timer = Callable[[str], AbstractContextManager[None]]


def run_steps(state: PrepareState, timer: Timer, names: Iterable[str] = PIPELINE
              ) -> dict[str, Any]:
    """Run the named steps in order, each under `timer(name)`; return the manifest sections."""
    steps = [(name, STEPS.get(name)) for name in names]  # an unknown name fails before work
    for name, step in steps:
        with timer(name):
            step(state)
    return state.report
