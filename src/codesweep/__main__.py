"""`python -m codesweep ...` is the same as the `codesweep` command."""

from codesweep.cli import app

app()
