"""The corpus pipeline's step list: every step is registered, runs in order, timed by name."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

from codesweep.config.pipeline import PipelineConfig
from codesweep.corpus import steps
from codesweep.errors import CodesweepError


def state() -> steps.PrepareState:
    config = PipelineConfig(name="t", sources=[{"path": "."}])
    return steps.PrepareState(config, [], None, Path("."), partitions=2)


def test_every_pipeline_step_is_registered_once() -> None:
    assert sorted(steps.PIPELINE) == steps.STEPS.names()


def test_steps_run_in_order_share_the_state_and_are_timed(monkeypatch) -> None:
    monkeypatch.setattr(steps, "STEPS", steps.STEPS.copy())
    ran: list[str] = []

    def first(shared: steps.PrepareState) -> None:
        shared.report["first"] = 1

    def second(shared: steps.PrepareState) -> None:
        shared.report["second"] = shared.report["first"] + 1

    steps.STEPS.add("first", first)
    steps.STEPS.add("second", second)

    @contextmanager
    def timer(name: str):
        ran.append(name)
        yield

    assert steps.run_steps(state(), timer, ["first", "second"]) == {"first": 1, "second": 2}
    assert ran == ["first", "second"]


def test_an_unknown_step_fails_before_any_step_runs(monkeypatch) -> None:
    monkeypatch.setattr(steps, "STEPS", steps.STEPS.copy())
    ran: list[str] = []
    steps.STEPS.add("first", lambda shared: ran.append("first"))

    @contextmanager
    def timer(name: str):
        yield

    with pytest.raises(CodesweepError, match=r'unknown corpus step "wirte" \(did you mean "write"'):
        steps.run_steps(state(), timer, ["first", "wirte"])
    assert ran == []


def test_decontamination_runs_before_dedup_and_repos_are_assigned_before_reading() -> None:
    order = steps.PIPELINE
    assert order.index("decontaminate") < order.index("exact dedup") < order.index("near dedup")
    assert order.index("assign repos") < order.index("read & filter")
