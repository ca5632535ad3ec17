"""One registry type for every extension point: metrics, task builders, benchmarks, corpus
steps and CLI commands.

An entry is either the object itself or a `"module:attribute"` string that is imported the
first time the entry is asked for, so that naming one builder in a recipe does not import
every builder (and `--help` does not import torch). Unknown names are one-line errors with
a "did you mean" hint and the list of what is available.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from codesweep.errors import CodesweepError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (`kind` is how error messages call them, e.g. "metric")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def add(self, name: str, entry: T | str) -> None:
        """Register `entry` (or a lazy `"module:attribute"` target) under `name`."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`: `@BUILDERS.register("fim")`."""

        def decorate(entry: T) -> T:
            self.add(name, entry)
            return entry

        return decorate

    def get(self, name: str) -> T:
        """The entry registered as `name`, imported now if it was registered lazily."""
        if name not in self._entries:
            raise CodesweepError(self.unknown(name))
        entry = self._entries[name]
        if isinstance(entry, str):
            module_name, _, attribute = entry.partition(":")
            loaded: T = getattr(importlib.import_module(module_name), attribute)
            self._entries[name] = entry = loaded
        return entry

    def unknown(self, name: str) -> str:
        """The one-line message for a name that is not registered."""
        return (f'unknown {self.kind} "{name}"{did_you_mean(name, self._entries)}; '
                f"available: {', '.join(self.names())}")

    def copy(self) -> Registry[T]:
        """A registry with the same entries, to extend without touching this one (tests)."""
        duplicate: Registry[T] = Registry(self.kind)
        duplicate._entries = dict(self._entries)
        return duplicate

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
