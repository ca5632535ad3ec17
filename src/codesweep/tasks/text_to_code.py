"""`text_to_code`: natural-language summary plus class context -> the method (ConCode style).

The prompt gives the first sentence of the docstring and the signatures of the other members
of the enclosing class (or of the module, for top-level functions); the completion is the
function without its docstring, which would otherwise hand the summary back to the model.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from codesweep.config.loader import validate
from codesweep.tasks.edits import apply_edits, doc_removal
from codesweep.tasks.functions import Function, first_sentence
from codesweep.tasks.per_function import function_key, function_rows
from codesweep.tasks.rows import dropped, example, to_frame
from codesweep.tasks.templates import TemplateParams, line_comment, render_prompt

INSTRUCTION = "Write the method described below, using the members of its class as needed."


class TextToCodeParams(BaseModel):
    """Knobs of the `text_to_code` builder."""

    model_config = ConfigDict(extra="forbid")
    max_members: int = Field(16, ge=0, description="other members' signatures in the prompt")
    template: TemplateParams = Field(default_factory=TemplateParams)


def build_text_to_code(files: pd.DataFrame, params: dict[str, Any], seed: int) -> pd.DataFrame:
    """Build text-to-code examples (and dropped rows) from a batch of prepared files."""
    knobs = validate(TextToCodeParams, params, "tasks.text_to_code.params")
    rows = function_rows(files, lambda file, function, all_functions: _row(
        file, function, all_functions, knobs))
    return to_frame(rows, ["function", "summary", "members"])  # members: one per line


def _row(file: pd.Series, function: Function, functions: list[Function],
         knobs: TextToCodeParams) -> dict:
    key = function_key(function)
    summary = first_sentence(function.docstring)
    reason = "abstract" if function.is_abstract else "empty_body" if function.is_empty \
        else None if summary else "no_docstring"
    if reason:
        return dropped(file, key, reason, function=function.qualname)
    members = sibling_signatures(function, functions)[: knobs.max_members]
    context = describe(summary or "", function, members)
    code = apply_edits(function.text, doc_removal(function))
    return example(file, key, render_prompt(knobs.template, INSTRUCTION, context), code,
                   function=function.qualname, summary=summary, members="\n".join(members))


def sibling_signatures(function: Function, functions: list[Function]) -> list[str]:
    """Signatures of the other functions with the same enclosing class, in source order."""
    return [other.signature for other in functions
            if other.enclosing_class == function.enclosing_class and other is not function]


def describe(summary: str, function: Function, members: list[str]) -> str:
    """The prompt's context as comment lines: summary, then the enclosing scope's members."""
    comment = line_comment(function.language)
    scope = f"class {function.enclosing_class}" if function.enclosing_class else "module"
    lines = [f"{comment} {summary}", f"{comment} {scope} members:"]
    lines += [f"{comment}     {signature}" for signature in members]
    return "".join(f"{line}\n" for line in lines)
