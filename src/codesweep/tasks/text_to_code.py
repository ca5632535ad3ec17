"""`text_to_code`: natural-language summary plus class context -> the method (ConCode style).

The prompt gives the first sentence of the docstring (Javadoc markup rendered as plain text)
and, as ConCode's "environment", the enclosing class's member fields and the signatures of its
other methods (or of the module, for top-level functions); the completion is the function
without its docstring, which would otherwise hand the summary back to the model. Fields are
read for Java and Kotlin (ConCode is Java); Python classes list methods only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from codesweep.config.loader import validate
from codesweep.drops import KEPT
from codesweep.tasks.edits import apply_edits, doc_removal
from codesweep.tasks.functions import Function, extract_fields, first_sentence
from codesweep.tasks.javadoc import plain_doc
from codesweep.tasks.per_function import function_key, function_rows
from codesweep.tasks.rows import dropped, example, to_frame
from codesweep.tasks.templates import TemplateParams, line_comment, render_prompt

INSTRUCTION = "Write the method described below, using the members of its class as needed."
AMBIGUOUS = "ambiguous_prompt"


class TextToCodeParams(BaseModel):
    """Knobs of the `text_to_code` builder."""

    model_config = ConfigDict(extra="forbid")
    max_members: int = Field(16, ge=0, description="other members' signatures in the prompt")
    max_fields: int = Field(16, ge=0, description="member fields (type and name) in the prompt")
    template: TemplateParams = Field(default_factory=TemplateParams)


def build_text_to_code(files: pd.DataFrame, params: dict[str, Any], seed: int) -> pd.DataFrame:
    """Build text-to-code examples (and dropped rows) from a batch of prepared files."""
    knobs = validate(TextToCodeParams, params, "tasks.text_to_code.params")
    fields_by_file: dict[str, dict[str | None, list[str]]] = {}

    def fields_of(file: pd.Series) -> dict[str | None, list[str]]:
        if file["sha"] not in fields_by_file:
            fields_by_file[file["sha"]] = extract_fields(file["text"], file["language"])
        return fields_by_file[file["sha"]]

    rows = function_rows(files, lambda file, function, all_functions: _row(
        file, function, all_functions, fields_of(file), knobs))
    return to_frame(drop_ambiguous(rows), ["function", "summary", "fields", "members"])


def _row(file: pd.Series, function: Function, functions: list[Function],
         fields: dict[str | None, list[str]], knobs: TextToCodeParams) -> dict:
    key = function_key(function)
    summary = summary_of(function)
    reason = "abstract" if function.is_abstract else "empty_body" if function.is_empty \
        else None if summary else "no_docstring"
    if reason:
        return dropped(file, key, reason, function=function.qualname)
    members = sibling_signatures(function, functions)[: knobs.max_members]
    own_fields = fields.get(function.enclosing_class, [])[: knobs.max_fields]
    context = describe(summary or "", function, own_fields, members)
    code = apply_edits(function.text, doc_removal(function))
    return example(file, key, render_prompt(knobs.template, INSTRUCTION, context), code,
                   function=function.qualname, summary=summary, fields="\n".join(own_fields),
                   members="\n".join(members))


def summary_of(function: Function) -> str | None:
    """The docstring's first sentence; Javadoc/KDoc markup rendered as plain text."""
    doc = function.docstring if function.language == "python" else plain_doc(function.docstring)
    return first_sentence(doc)


def sibling_signatures(function: Function, functions: list[Function]) -> list[str]:
    """Signatures of the other functions with the same enclosing class: the function's own
    overloads first, then the rest in source order. Overloads often share one Javadoc summary;
    listing each one's siblings before the `max_members` cut keeps their prompts apart (each
    shows the others' parameter lists, never its own), as ConCode's class context does."""
    others = [other for other in functions
              if other.enclosing_class == function.enclosing_class and other is not function]
    overloads = [other for other in others if other.name == function.name]
    rest = [other for other in others if other.name != function.name]
    return [other.signature for other in overloads + rest]


def drop_ambiguous(rows: list[dict]) -> list[dict]:
    """Drop (as `ambiguous_prompt`) every example whose prompt an earlier example of the same
    file already has with another target. Such a pair cannot be learned or scored (either
    method is a right answer); ConCode's targets are whole methods, signature included, so the
    signature is not moved into the prompt to tell them apart. Kept: the first in source order."""
    targets: dict[tuple[str, str, str], str] = {}
    out = []
    for row in rows:
        if row["drop_reason"] != KEPT:
            out.append(row)
            continue
        key = (row["repo"], row["path"], row["prompt"])
        first = targets.setdefault(key, row["completion"])
        out.append(row if first == row["completion"] else
                   {**row, "prompt": "", "completion": "", "drop_reason": AMBIGUOUS})
    return out


def describe(summary: str, function: Function, fields: list[str], members: list[str]) -> str:
    """The prompt's context as comment lines: summary, then the enclosing scope's fields and
    other members."""
    comment = line_comment(function.language)
    scope = f"class {function.enclosing_class}" if function.enclosing_class else "module"
    lines = [f"{comment} {summary}"]
    if fields:
        lines += [f"{comment} {scope} fields:", *(f"{comment}     {field}" for field in fields)]
    lines += [f"{comment} {scope} members:"]
    lines += [f"{comment}     {signature}" for signature in members]
    return "".join(f"{line}\n" for line in lines)
