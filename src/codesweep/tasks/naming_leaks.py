"""Function-naming label leaks that a whole-word check misses, found on identifier sub-tokens.

The obfuscated code is cut into identifiers, string literals and prose (comments and
docstrings). The label's sub-tokens (camelCase, snake_case and UPPER_CASE splitting, leading
underscores ignored) are then looked for as:
- `case_variant`: an identifier with the same sub-tokens in another style
  (`BEGIN_ARRAY` for `beginArray`, `fdRead` for `fd_read`);
- `inside_identifier`: a longer identifier holding them in order (`canonicalizeInternal`);
- `string_literal`: a string spelling the label or its words (`'dump_csp_header' is ...`);
- `docstring_words`: prose spelling a multi-word label's words in order
  ("Returns a new JSON writer" for `newJsonWriter`).
The builder drops such an example (`label_leak_<kind>`) or, with `leak: mask`, replaces the
leaking text with the placeholder and keeps it (counted per kind under the task's notes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codesweep.languages import STRING_LITERAL
from codesweep.tasks.obfuscate import name_pattern

KINDS = ("whole_word", "case_variant", "inside_identifier", "string_literal", "docstring_words")
_SUBTOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_BLOCK_PROSE = r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|/\*[\s\S]*?\*/|//[^\n]*'
_IDENT = r"[A-Za-z_$][\w$]*"


@dataclass(frozen=True)
class Leak:
    """One place where the code still gives the label away."""

    kind: str
    start: int
    end: int


def subtokens(identifier: str) -> list[str]:
    """Lower-cased sub-tokens: `getHTTPResponse_code` -> get, http, response, code."""
    return [match.group().lower() for match in _SUBTOKEN.finditer(identifier)]


def _regions(language: str) -> re.Pattern[str]:
    prose = _BLOCK_PROSE + (r"|#[^\n]*" if language == "python" else "")
    string = STRING_LITERAL.pattern
    return re.compile(rf"(?P<prose>{prose})|(?P<string>{string})|(?P<ident>{_IDENT})")


def find_leaks(label: str, code: str, language: str, placeholder: str) -> list[Leak]:
    """Every leak of `label` in `code`, in source order (see the module docstring)."""
    words = subtokens(label)
    if not words:
        return []
    found: list[Leak] = []
    whole = name_pattern(label)
    for match in _regions(language).finditer(code):
        kind = str(match.lastgroup)  # every alternative is a named group
        text, offset = match.group(), match.start()
        if kind == "ident":
            found += _identifier_leaks(text, offset, label, words, placeholder)
        else:
            hits = [Leak("whole_word", offset + m.start(), offset + m.end())
                    for m in whole.finditer(text)]
            found += hits or _word_leaks(text, offset, label, words, kind)
    return found


def _identifier_leaks(text: str, offset: int, label: str, words: list[str],
                      placeholder: str) -> list[Leak]:
    if text == placeholder:
        return []
    if text.lower() == label.lower():
        return [Leak("whole_word", offset, offset + len(text))]
    parts = list(_SUBTOKEN.finditer(text))
    lowered = [part.group().lower() for part in parts]
    for first in range(len(parts) - len(words) + 1):
        if lowered[first:first + len(words)] == words:
            kind = "case_variant" if len(parts) == len(words) else "inside_identifier"
            start = 0 if kind == "case_variant" else parts[first].start()
            end = len(text) if kind == "case_variant" else parts[first + len(words) - 1].end()
            return [Leak(kind, offset + start, offset + end)]
    return []


def _word_leaks(text: str, offset: int, label: str, words: list[str], region: str) -> list[Leak]:
    """The label's words in order inside a string (any label) or prose (multi-word labels)."""
    if region == "prose" and len(words) < 2:
        return []  # a one-word label in prose is the whole-word check's job
    bare = label.lstrip("_")
    spelled = [re.escape(bare)] if region == "string" and bare != label else []
    spelled.append(r"[\W_]*".join(re.escape(word) for word in words))
    pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(spelled)})(?![a-z0-9])", re.IGNORECASE)
    kind = "string_literal" if region == "string" else "docstring_words"
    return [Leak(kind, offset + m.start(), offset + m.end()) for m in pattern.finditer(text)]


def mask(code: str, leaks: list[Leak], placeholder: str) -> str:
    """`code` with every leak's text replaced by the placeholder (right to left)."""
    for leak in sorted(leaks, key=lambda item: item.start, reverse=True):
        code = code[:leak.start] + placeholder + code[leak.end:]
    return code


def resolve(label: str, code: str, language: str, placeholder: str,
            policy: str) -> tuple[str, str | None, str]:
    """(code, drop reason or None, note) for one example under `leak: drop | mask`.

    Drop: the first leak's kind names the reason (`label_leak` for a whole word, as before).
    Mask: leaks are masked and the kinds noted; what still leaks afterwards is dropped.
    """
    leaks = find_leaks(label, code, language, placeholder)
    if not leaks:
        return code, None, ""
    if policy == "mask":
        masked = mask(code, leaks, placeholder)
        if not find_leaks(label, masked, language, placeholder):
            kinds = sorted({leak.kind for leak in leaks}, key=KINDS.index)
            return masked, None, ",".join(f"label_leak_masked_{kind}" for kind in kinds)
    strongest = min((leak.kind for leak in leaks), key=KINDS.index)
    return code, drop_reason(strongest), ""


def drop_reason(kind: str) -> str:
    """The manifest reason of a leak kind (`label_leak` for the whole-word check's kind)."""
    return "label_leak" if kind == "whole_word" else f"label_leak_{kind}"
