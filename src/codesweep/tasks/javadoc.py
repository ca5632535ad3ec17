"""Javadoc/KDoc descriptions as the plain text a reader sees, for natural-language summaries.

Inline tags become their rendered text (`{@code x}`, `{@literal x}` -> `x`; `{@link Foo#bar}`
-> `Foo.bar`, `{@link #bar label}` -> `label`; `{@inheritDoc}` -> nothing), HTML tags are
removed (block-level ones such as `<p>` end a paragraph, as they do on the rendered page) and
entities are decoded. Block tags (`@param`, `@return`, ...) are already cut by
`functions.clean_doc_comment`.
"""

from __future__ import annotations

import html
import re

# An inline tag (its text may hold one level of braces, as `{@code new int[] {1}}` does) or
# an HTML tag; matched in one pass so that `<T>` inside `{@code List<T>}` is kept.
_MARKUP = re.compile(r"\{@(?P<tag>\w+)\s*(?P<text>(?:[^{}]|\{[^{}]*\})*)\}"
                     r"|</?(?P<html>[A-Za-z][A-Za-z0-9]*)\b[^<>]*>")
_PARAGRAPH_HTML = {"p", "br", "pre", "ul", "ol", "li", "dl", "dt", "dd", "table", "tr", "div",
                   "blockquote", "hr", "h1", "h2", "h3", "h4", "h5", "h6"}
_REFERENCE_TAGS = {"link", "linkplain", "value"}
_REFERENCE = re.compile(r"(?P<target>[^\s(]*(?:\([^)]*\))?)\s*(?P<label>.*)", re.DOTALL)


def plain_doc(doc: str | None) -> str | None:
    """The description with its markup rendered as plain text (None stays None)."""
    if doc is None:
        return None
    return html.unescape(_MARKUP.sub(_rendered, doc)).strip() or None


def _rendered(match: re.Match) -> str:
    if match["html"] is not None:
        return "\n\n" if match["html"].lower() in _PARAGRAPH_HTML else ""
    tag, text = match["tag"], match["text"].strip()
    if tag not in _REFERENCE_TAGS:
        return text  # code, literal, and unknown tags show their text; inheritDoc shows none
    reference = _REFERENCE.match(text)
    if reference is None:  # the pattern matches any text; kept for the type checker
        return text
    if reference["label"]:
        return reference["label"].strip()
    return reference["target"].lstrip("#").replace("#", ".")
