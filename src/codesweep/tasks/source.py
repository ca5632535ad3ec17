"""From a prepared file row to its functions, or to the dropped row that says why there are none."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from codesweep.tasks.functions import LANGUAGES, Function, extract_functions
from codesweep.tasks.rows import dropped


def file_functions(file: pd.Series) -> tuple[list[Function], dict | None]:
    """The file's functions, or ([], a dropped row) when it has none we can use."""
    if file["language"] not in LANGUAGES:
        return [], dropped(file, "file", "unsupported_language")
    functions = extract_functions(file["text"], file["language"])
    if not functions:
        return [], dropped(file, "file", "no_functions")
    return functions, None


def function_key(function: Function) -> str:
    """Id suffix of a function, unique within its file: `line:qualname`."""
    return f"{function.start_line}:{function.qualname}"


PerFunction = Callable[[pd.Series, Function, list[Function]], dict]


def function_rows(files: pd.DataFrame, per_function: PerFunction) -> list[dict]:
    """One row per function of every file (`per_function(file, function, all_functions)`
    returns an example or a dropped row), or one dropped row for a file without functions."""
    rows: list[dict] = []
    for _, file in files.iterrows():
        functions, drop = file_functions(file)
        rows += [drop] if drop is not None else \
            [per_function(file, function, functions) for function in functions]
    return rows
