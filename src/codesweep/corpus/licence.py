"""Licence headers: find the leading licence text of a file and remove it, keeping what is code.

A header often follows a preamble that must stay where it is: a shebang or encoding line,
`@file:` annotations and `package` lines (Kotlin, Java), and lone one-line comments such as
`// ktlint-disable`. After the preamble comes one comment block (`#` lines for Python, `//`
lines or one `/* ... */` block otherwise), or for Python a module docstring:
- a comment block is a header when it mentions a licence or copyright; a `/** ... */` doc
  comment only when it reads like a licence (copyright, "licensed under", SPDX, ...), so a
  class's KDoc/Javadoc that merely mentions a "license" field is kept;
- in a module docstring, the paragraphs that read like a licence are removed (the whole
  docstring when nothing else is left), so `:copyright:` / `:license:` blocks go and the
  module's description stays.
"""

from __future__ import annotations

import re

MENTION = re.compile(r"licen[cs]e|copyright|spdx-license-identifier|all rights reserved",
                     re.IGNORECASE)
LICENCE_TEXT = re.compile(
    r"copyright|\(c\)\s*\d{4}|spdx-license-identifier|all rights reserved|licen[cs]ed (?:under|to)"
    r"|permission is hereby granted|general public licen[cs]e|(?:apache|mit|bsd) licen[cs]e"
    r"|:licen[cs]e:", re.IGNORECASE)
MAX_PREAMBLE_LINES = 8
_DOCSTRING = re.compile(r'[ \t]*[rRuU]{0,2}("""|\'\'\')(.*?)\1[ \t]*\r?\n?', re.DOTALL)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def strip_license_header(text: str, language: str) -> tuple[str, bool]:
    """The text without its licence header, and whether one was removed."""
    lines = text.splitlines(keepends=True)
    start = preamble_end(lines, language)
    end = comment_block_end(lines, start, language)
    if end > start:
        block = "".join(lines[start:end])
        is_doc = block.lstrip().startswith("/**")
        if not (LICENCE_TEXT if is_doc else MENTION).search(block):
            return text, False
        return "".join(lines[:start]) + _after_blank_lines(lines, end), True
    if language == "python":
        return _strip_docstring_licence(lines, start)
    return text, False


def preamble_end(lines: list[str], language: str) -> int:
    """Index of the first line after the preamble that stays in place (see module docstring)."""
    comment = "#" if language == "python" else "//"
    index = 0
    while index < min(len(lines), MAX_PREAMBLE_LINES):
        line = lines[index].strip()
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        lone_comment = line.startswith(comment) and not MENTION.search(line) \
            and not following.startswith(comment)
        if language == "python":
            kept = line.startswith("#!") or bool(re.match(r"#.*coding[:=]", line)) or lone_comment
        else:
            kept = line.startswith(("@file:", "package ")) or lone_comment
        if not (kept or not line):
            break
        index += 1
    return index


def comment_block_end(lines: list[str], start: int, language: str) -> int:
    """Index just past the comment block starting at `start` (== start when there is none)."""
    end = start
    while end < len(lines) and not lines[end].strip():
        end += 1
    first = lines[end].lstrip() if end < len(lines) else ""
    if language != "python" and first.startswith("/*"):
        while end < len(lines) and "*/" not in lines[end]:
            end += 1
        return min(end + 1, len(lines))
    prefix = "#" if language == "python" else "//"
    while end < len(lines) and lines[end].lstrip().startswith(prefix):
        end += 1
    return end if end > start and lines[end - 1].strip() else start


def _after_blank_lines(lines: list[str], end: int) -> str:
    """The text from `end` on, without the blank lines that separated a header from code."""
    while end < len(lines) and not lines[end].strip():
        end += 1
    return "".join(lines[end:])


def _strip_docstring_licence(lines: list[str], start: int) -> tuple[str, bool]:
    """Remove the licence paragraphs of a Python module docstring starting at `start`."""
    head, rest = "".join(lines[:start]), "".join(lines[start:])
    match = _DOCSTRING.match(rest)
    if match is None or not LICENCE_TEXT.search(match.group(2)):
        return head + rest, False
    quote, body = match.group(1), match.group(2)
    kept = [part for part in _PARAGRAPH_BREAK.split(body) if not LICENCE_TEXT.search(part)]
    if not "".join(kept).strip():
        tail = rest[match.end():]
        return head + tail.lstrip("\r\n"), True
    docstring = quote + "\n\n".join(kept).rstrip()
    closing = "\n" + quote if "\n" in body else quote
    return head + docstring + closing + "\n" + rest[match.end():], True
