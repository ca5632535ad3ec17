"""Text edits on a function's source: span replacements and doc-comment removal."""

from __future__ import annotations

from codesweep.tasks.functions import Function, Span

Edit = tuple[Span, str]


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Replace each span by its text; spans must not overlap (applied right to left)."""
    for (start, end), replacement in sorted(edits, key=lambda edit: edit[0], reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def doc_removal(function: Function) -> list[Edit]:
    """The edit that deletes the docstring / doc comment, whole lines where it owns them."""
    if function.doc_span is None:
        return []
    start, end = function.doc_span
    text = function.text
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end == -1 else line_end + 1
    owns_lines = not text[line_start:start].strip() and not text[end:line_end].strip()
    return [((line_start, line_end), "")] if owns_lines else [((start, end), "")]
