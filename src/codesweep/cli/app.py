"""The Typer application. Subcommands are registered by name as lazy `module:function`
targets; each command module imports its stage inside the function, so `--help` stays fast."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer

from codesweep.cli.console import console
from codesweep.errors import CodesweepError
from codesweep.registry import Registry
from codesweep.resources import resource_error

app = typer.Typer(
    help="Code-LLM fine-tuning: prepare datasets, sweep LoRA on Ray, score, compare in MLflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# In the order of the workflow, which is how `--help` lists them.
ORDER = ("prepare", "sweep", "evaluate", "run", "report", "score", "export", "train")
COMMANDS: Registry[Callable[..., Any]] = Registry("command")
for _name in ORDER:
    COMMANDS.add(_name, f"codesweep.cli.{_name}:{_name}_command")


@app.callback()
def main(verbose: bool = typer.Option(
        False, "--verbose", help="library logs and Ray Tune's own trial tables as they are")
         ) -> None:
    """Code-LLM fine-tuning: prepare datasets, sweep LoRA on Ray, score, compare in MLflow."""
    import os

    from codesweep.cli.console import quiet_libraries

    if verbose:
        os.environ["CODESWEEP_VERBOSE"] = "1"
    else:
        quiet_libraries()


def user_errors_as_one_line(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print a CodesweepError (and a full disk, a read-only or forbidden directory, an
    unwritable MLflow store) as one red line and exit 2 (130 for an interrupt), instead of
    a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CodesweepError as exc:
            fail(str(exc), getattr(exc, "exit_code", 2))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as exc:
            one_line = resource_error(exc)
            if one_line is None:
                raise
            fail(str(one_line), 2)

    return wrapper


def fail(message: str, code: int) -> None:
    """Print the error line and exit with `code`."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


for _name in ORDER:
    _command = COMMANDS.get(_name)
    app.command(_name, help=_command.__doc__)(user_errors_as_one_line(_command))
