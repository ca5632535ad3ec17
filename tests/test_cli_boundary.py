"""The command line is one package: only `codesweep.cli` imports typer, rich or itself, and
starting it (`codesweep --help`) imports no heavy library."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import codesweep

PACKAGE = Path(codesweep.__file__).parent
CLI_ONLY = ("typer", "rich", "codesweep.cli")


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth (lazy imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def cli_imports_outside_cli() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "cli" or relative.name == "__main__.py":
            continue
        for name in imported_modules(path):
            if any(name == banned or name.startswith(banned + ".") for banned in CLI_ONLY):
                found.append(f"{relative}: {name}")
    return found


def test_only_the_cli_package_imports_the_cli_libraries() -> None:
    assert cli_imports_outside_cli() == []


def test_starting_the_cli_imports_no_heavy_library() -> None:
    probe = ("import sys, codesweep.cli; "
             "print(sorted(m for m in ('torch', 'ray', 'pandas', 'transformers', 'mlflow') "
             "if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env=env).stdout
    assert out.strip() == "[]"
