"""Choosing the isolation level: the strongest that works, and never a silent downgrade."""

from __future__ import annotations

import warnings

import pytest

from codesweep.execution import isolation, runner


@pytest.fixture(autouse=True)
def fresh_detection():
    isolation.detect.cache_clear()
    yield
    isolation.detect.cache_clear()


def test_missing_namespaces_degrade_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "_namespaces_unavailable", lambda: "not running as root")
    monkeypatch.setattr(isolation, "_user_namespaces_unavailable", lambda: "no `unshare`")
    with pytest.warns(isolation.SandboxWarning,
                      match="not running as root; user namespaces: no `unshare`.*audit hook"):
        assert isolation.detect() == isolation.RLIMITS


def test_a_failing_namespace_probe_degrades_with_its_reason(monkeypatch) -> None:
    monkeypatch.setattr(isolation, "_namespaces_unavailable", lambda: None)
    monkeypatch.setattr(runner, "probe", lambda level: "error: mount_setattr failed")
    with pytest.warns(isolation.SandboxWarning, match="mount_setattr failed"):
        assert isolation.detect() == isolation.RLIMITS


def test_without_root_user_namespaces_are_chosen_with_a_warning(monkeypatch) -> None:
    if reason := isolation._user_namespaces_unavailable() or runner.probe(isolation.USERNS):
        pytest.skip(f"no user namespaces here: {reason}")
    monkeypatch.setattr(isolation, "_namespaces_unavailable", lambda: "not running as root")
    with pytest.warns(isolation.SandboxWarning, match="not running as root.*user namespaces"):
        assert isolation.detect() == isolation.USERNS


def test_namespaces_are_chosen_silently_where_they_work() -> None:
    if isolation._namespaces_unavailable():
        pytest.skip("no namespaces here")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isolation.detect() == isolation.NAMESPACES


def test_the_sandbox_root_is_built_where_it_hides_nothing_it_keeps() -> None:
    from codesweep.execution.harness import root_mount_point

    assert root_mount_point(["/usr/lib/python3.11", "/usr/bin/python3.11"]) == "/tmp"
    # an interpreter installed under /tmp: a root mounted on /tmp would hide it
    assert root_mount_point(["/usr/lib/python3.11", "/tmp/ci/.venv/bin/python"]) != "/tmp"
