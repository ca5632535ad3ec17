"""The `codesweep` command. Subcommands import their stage lazily so `--help` stays fast."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from codesweep.errors import CodesweepError

app = typer.Typer(
    help="Code-LLM fine-tuning: prepare datasets, sweep LoRA on Ray, score, compare in MLflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


def user_errors_as_one_line(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print a CodesweepError as one red line and exit 2, instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CodesweepError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(2)

    return wrapper


def register(name: str, target: str) -> None:
    """Register `module:function` as subcommand `name`, importing the module now (it is light)."""
    import importlib

    module_name, _, function_name = target.partition(":")
    command = getattr(importlib.import_module(module_name), function_name)
    app.command(name, help=command.__doc__)(user_errors_as_one_line(command))


COMMANDS = {
    "prepare": "codesweep.corpus.command:prepare_command",
    "sweep": "codesweep.commands:sweep_command",
    "evaluate": "codesweep.commands:evaluate_command",
    "run": "codesweep.commands:run_command",
    "report": "codesweep.commands:report_command",
    "score": "codesweep.metrics.command:score_command",
    "export": "codesweep.export:export_command",
    "train": "codesweep.train.command:train_command",
}

for _name, _target in COMMANDS.items():
    register(_name, _target)
