"""The one console: human-readable output goes to stderr, so stdout stays for data (the JSON
of `codesweep score`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.status import Status

console = Console(stderr=True)


class ConsoleProgress:
    """The experiment's Progress on the console: lines, and a spinner while work runs."""

    def line(self, message: str) -> None:
        """Print one line as it is (paths and numbers are not highlighted)."""
        console.print(message, highlight=False)

    def status(self, message: str) -> Status:
        """A spinner with `message` while the block runs."""
        return console.status(message)


def timed_lines() -> Callable[[str], None]:
    """A progress callback that prefixes each line with the seconds since it was made."""
    start = time.perf_counter()

    def say(message: str) -> None:
        console.print(f"[dim]{time.perf_counter() - start:6.1f}s[/] {message}", highlight=False)

    return say
