"""Function extraction: one `Function` record per function or method of a source file.

Python is parsed with the standard library's `ast`; Kotlin and Java with tree-sitter grammars.
Every position in a `Function` is relative to its own `text` (the function's source, dedented,
starting at its doc comment, decorators or annotations), so builders can cut prompts without
going back to the file. Files that do not parse yield no functions rather than an error: a
corpus always holds a few broken files and one must not stop the pipeline.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

Span = tuple[int, int]  # [start, end) character offsets into Function.text

LANGUAGES = ("python", "kotlin", "java")


@dataclass(frozen=True)
class Function:
    """One function or method with the facts the task builders need."""

    name: str
    language: str
    text: str  # dedented source: doc comment (JVM), decorators/annotations, signature, body
    signature: str  # the header alone, on one line, e.g. "def f(x: int) -> int:"
    signature_end: int  # offset in `text` where the header ends; nothing before it is ever masked
    body_start: int  # offset in `text` where the body's first statement (or docstring) starts
    start_line: int  # 1-based line of the file where `text` starts
    end_line: int  # 1-based last line
    docstring: str | None = None  # cleaned docstring / KDoc / Javadoc description
    doc_span: Span | None = None  # the raw docstring literal or doc comment in `text`
    enclosing_class: str | None = None
    modifiers: tuple[str, ...] = ()  # e.g. ("abstract",), ("override", "public"), ("staticmethod",)
    is_abstract: bool = False  # declared abstract, or has no body at all
    is_empty: bool = False  # body is only pass / ... / a docstring / raise NotImplementedError
    only_calls_super: bool = False  # body is a single call to super's method of the same name
    name_spans: tuple[Span, ...] = field(default=())  # definition and self-references

    @property
    def qualname(self) -> str:
        """`Class.name` for methods, `name` for top-level functions."""
        return f"{self.enclosing_class}.{self.name}" if self.enclosing_class else self.name

    @property
    def body(self) -> str:
        """The body's source (docstring included for Python)."""
        return self.text[self.body_start:]

    def body_line_range(self) -> tuple[int, int] | None:
        """0-based [first, last] lines of `text` that lie wholly inside the body, if any."""
        first = self.text.count("\n", 0, self.signature_end) + 1
        if self.text[self.signature_end:self.body_start].count("\n") == 0:
            return None  # body starts on the header line: a one-liner has no maskable line
        last = self.text.rstrip("\n").count("\n")
        if self.language != "python" and self.text.rstrip().endswith("}"):
            last -= 1  # the closing brace line belongs to the structure, not the body
        return (first, last) if first <= last else None


def extract_functions(text: str, language: str) -> list[Function]:
    """All functions and methods of one file, in source order; [] if it does not parse."""
    if language == "python":
        from codesweep.tasks.functions_python import extract_python

        return extract_python(text)
    if language in ("kotlin", "java"):
        from codesweep.tasks.functions_jvm import extract_jvm

        return extract_jvm(text, language)
    return []


def extract_fields(text: str, language: str) -> dict[str | None, list[str]]:
    """Member fields per enclosing class (Kotlin and Java; {} for other languages)."""
    if language in ("kotlin", "java"):
        from codesweep.tasks.functions_jvm import extract_jvm_fields

        return extract_jvm_fields(text, language)
    return {}


def dedent_lines(lines: list[str]) -> tuple[str, int]:
    """Dedent a block of lines; return the text and the number of columns removed."""
    block = "".join(lines)
    dedented = textwrap.dedent(block)
    first = next((line for line in lines if line.strip()), "")
    removed = len(first) - len(first.lstrip()) if dedented != block else 0
    return dedented, removed


def line_starts(text: str) -> list[int]:
    """Offsets at which each line of `text` starts (index 0 is line 1)."""
    starts = [0]
    starts.extend(match.end() for match in re.finditer("\n", text))
    return starts


def code_lines(function: Function) -> list[tuple[int, int]]:
    """[start, end) offsets of the body lines that hold code: not blank, not the docstring.

    These are the lines FIM may mask and the measure of a function's length.
    """
    body = function.body_line_range()
    if body is None:
        return []
    starts = [*line_starts(function.text), len(function.text)]
    doc_start, doc_end = function.doc_span or (0, 0)
    spans = [(starts[n], starts[n + 1]) for n in range(body[0], body[1] + 1)]
    return [(start, end) for start, end in spans
            if function.text[start:end].strip() and start >= function.signature_end
            and not (doc_start < end and start < doc_end)]


_JAVADOC_TAG = re.compile(r"^\s*@\w+")


def clean_doc_comment(comment: str) -> str | None:
    """Description part of a `/** ... */` comment: no stars, no `@param` block tags."""
    body = comment.removeprefix("/**").removesuffix("*/")
    lines = [re.sub(r"^\s*\*? ?", "", line).rstrip() for line in body.splitlines()]
    description = []
    for line in lines:
        if _JAVADOC_TAG.match(line):
            break
        description.append(line)
    cleaned = "\n".join(description).strip()
    return cleaned or None


def first_sentence(doc: str | None) -> str | None:
    """The docstring's first sentence (up to the first '. ' or blank line), one line."""
    if not doc:
        return None
    paragraph = doc.strip().split("\n\n")[0]
    paragraph = " ".join(paragraph.split())
    match = re.search(r"(?<=[.!?])\s", paragraph)
    return paragraph[: match.start()] if match else paragraph
