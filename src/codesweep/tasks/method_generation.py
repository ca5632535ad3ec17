"""`method_generation`: signature plus docstring -> body (CodeXGLUE method-generation style).

The prompt is the function's head as it stands in the source: for Python the decorators,
`def` line and docstring; for Kotlin and Java the KDoc/Javadoc, annotations and signature up to
the opening brace. The completion is the rest of the function. With an IR variant (B or C)
the IR of the whole function (the solution's, an oracle) is prepended to the prompt as comment
lines; with `signature_ir` the IR of the signature and docstring only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from codesweep.config.loader import validate
from codesweep.tasks.functions import Function, code_lines
from codesweep.tasks.ir_prompt import IRParams, ir_text
from codesweep.tasks.per_function import function_key, function_rows
from codesweep.tasks.rows import dropped, example, to_frame
from codesweep.tasks.templates import TemplateParams, render_prompt

INSTRUCTION = "Complete the body of the following function."


class MethodGenerationParams(BaseModel):
    """Knobs of the `method_generation` builder."""

    model_config = ConfigDict(extra="forbid")
    require_docstring: bool = Field(True, description="drop functions without a docstring")
    min_body_lines: int = Field(1, ge=1, description="functions with fewer code lines are dropped")
    template: TemplateParams = Field(default_factory=TemplateParams)
    ir: IRParams = Field(default_factory=IRParams)


def build_method_generation(files: pd.DataFrame, params: dict[str, Any],
                            seed: int) -> pd.DataFrame:
    """Build method-generation examples (and dropped rows) from a batch of prepared files."""
    knobs = validate(MethodGenerationParams, params, "tasks.method_generation.params")
    rows = function_rows(files, lambda file, function, _: _row(file, function, knobs))
    return to_frame(rows, ["function", "signature", "docstring", "ir", "variant"])


def _row(file: pd.Series, function: Function, knobs: MethodGenerationParams) -> dict:
    key = function_key(function)
    reason = skip_reason(function, knobs.require_docstring, knobs.min_body_lines)
    if reason:
        return dropped(file, key, reason, function=function.qualname)
    head, body = split_head(function)
    ir = ir_text(function.text, function.language, knobs.ir)
    prompt = render_prompt(knobs.template, INSTRUCTION, ir + head)
    return example(file, key, prompt, body, function=function.qualname,
                   signature=function.signature, docstring=function.docstring,
                   ir=ir, variant=knobs.ir.variant)


def skip_reason(function: Function, require_docstring: bool, min_body_lines: int) -> str | None:
    """Why a function cannot make a generation example, or None."""
    if function.is_abstract:
        return "abstract"
    if function.is_empty:
        return "empty_body"
    if require_docstring and not function.docstring:
        return "no_docstring"
    if len(code_lines(function)) < min_body_lines:
        return "too_short"
    return None


def split_head(function: Function) -> tuple[str, str]:
    """(head, body): head ends after the Python docstring or after the JVM opening brace."""
    cut = function.signature_end
    if function.language == "python" and function.doc_span:
        cut = function.doc_span[1]
    return function.text[:cut], function.text[cut:]
