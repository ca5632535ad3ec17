"""The `codesweep` command: every subcommand and everything the program prints.

Nothing outside this package imports it; the stages it calls report through callbacks.
"""

from codesweep.cli.app import app

__all__ = ["app"]
