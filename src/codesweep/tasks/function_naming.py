"""`function_naming`: a function with its name hidden -> the name.

Filters drop what teaches nothing about naming: abstract and empty bodies, very short
functions, Python dunders, overrides that only call super (and, optionally, every override).
The name is obfuscated at the definition, self-references and docstring mentions; an example
whose code still contains the name anywhere is dropped as `label_leak`; other styles, longer
identifiers, strings and docstring words are found by `tasks.naming_leaks` (drop or mask, per
`leak`, counted per kind). The check runs on the
code shown to the model, not on the fixed instruction words, which are the same for every
example (a function called `name` must not be dropped because the instruction says "name").
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from codesweep.config.loader import validate
from codesweep.tasks.functions import Function, code_lines
from codesweep.tasks.naming_leaks import resolve
from codesweep.tasks.obfuscate import obfuscate
from codesweep.tasks.per_function import function_key, function_rows
from codesweep.tasks.rows import dropped, example, to_frame
from codesweep.tasks.templates import TemplateParams, line_comment, render_prompt

DEFAULT_SYSTEM = "You are an expert programmer who gives functions clear, idiomatic names."


class FunctionNamingParams(BaseModel):
    """Knobs of the `function_naming` builder."""

    model_config = ConfigDict(extra="forbid")
    placeholder: str = Field("__masked__", description="what replaces the name")
    min_body_lines: int = Field(3, ge=1, description="shorter functions are dropped as too_short")
    drop_super_only: bool = Field(True, description="drop overrides that only call super")
    drop_overrides: bool = Field(False, description="drop every override")
    strip_docstring: bool = Field(False, description="remove the docstring / doc comment")
    leak: Literal["drop", "mask"] = Field(
        "drop", description="a label still given away (other case style, inside an identifier, "
                            "a string, docstring words): drop the example or mask the text")
    template: TemplateParams = Field(
        default_factory=lambda: TemplateParams(kind="instruction", system=DEFAULT_SYSTEM))


def build_function_naming(files: pd.DataFrame, params: dict[str, Any],
                          seed: int) -> pd.DataFrame:
    """Build function-naming examples (and dropped rows) from a batch of prepared files."""
    knobs = validate(FunctionNamingParams, params, "tasks.function_naming.params")
    rows = function_rows(files, lambda file, function, _: _row(file, function, knobs))
    return to_frame(rows, ["label", "function", "code", "note"])


def _row(file: pd.Series, function: Function, knobs: FunctionNamingParams) -> dict:
    key, label = function_key(function), function.name
    code = obfuscate(function, knobs.placeholder, knobs.strip_docstring)
    reason, note = skip_reason(function, knobs), ""
    if reason is None:
        code, reason, note = resolve(label, code, function.language, knobs.placeholder,
                                     knobs.leak)
    if reason:
        return dropped(file, key, reason, label=label, function=function.qualname)
    prompt, completion = _prompt(code, function.language, label, knobs)
    return example(file, key, prompt, completion, label=label,
                   function=function.qualname, code=code, note=note)


def skip_reason(function: Function, knobs: FunctionNamingParams) -> str | None:
    """Why a function is not a naming example, before looking at leaks; None if it is one."""
    checks = [
        ("dunder", function.name.startswith("__") and function.name.endswith("__")),
        ("abstract", function.is_abstract),
        ("empty_body", function.is_empty),
        ("super_only", knobs.drop_super_only and function.only_calls_super),
        ("override", knobs.drop_overrides and "override" in function.modifiers),
        ("too_short", len(code_lines(function)) < knobs.min_body_lines),
    ]
    return next((reason for reason, failed in checks if failed), None)


def _prompt(code: str, language: str, label: str,
            knobs: FunctionNamingParams) -> tuple[str, str]:
    placeholder = knobs.placeholder
    if knobs.template.kind == "raw":  # a completion model needs a cue line to answer after
        cue = f"{line_comment(language)} A good name for {placeholder} is"
        return f"{code.rstrip()}\n{cue}", f" {label}"
    instruction = f"Suggest a name for the function called {placeholder} in this code."
    return render_prompt(knobs.template, instruction, code), label
