"""The shared Registry: lazy targets, did-you-mean errors, duplicates, copies."""

from __future__ import annotations

import sys

import pytest

from codesweep.errors import CodesweepError
from codesweep.registry import Registry


def test_a_lazy_target_is_imported_when_first_asked_for(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    things: Registry[object] = Registry("thing")
    things.add("hls", "colorsys:rgb_to_hls")
    assert "colorsys" not in sys.modules and "hls" in things
    assert things.get("hls")(1.0, 0.0, 0.0) == (0.0, 0.5, 1.0)


def test_unknown_names_suggest_and_list() -> None:
    things: Registry[int] = Registry("thing")
    things.add("alpha", 1)
    things.add("beta", 2)
    with pytest.raises(CodesweepError, match=r'unknown thing "alpah" \(did you mean "alpha"\?\); '
                                             r"available: alpha, beta"):
        things.get("alpah")


def test_duplicates_are_programming_errors_and_copies_are_independent() -> None:
    things: Registry[int] = Registry("thing")
    things.register("one")(1)
    with pytest.raises(ValueError, match="already registered"):
        things.add("one", 2)
    extended = things.copy()
    extended.add("two", 2)
    assert things.names() == ["one"] and extended.names() == ["one", "two"]
