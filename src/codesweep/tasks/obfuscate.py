"""Hide a function's name: at the definition, at self-references, and in its docstring.

Self-references are what extraction found syntactically (recursive calls, `self.f`, `cls.f`,
`this.f`, `this::f`, `::f`). Anything else that spells the name (a call on another object,
a string literal, a same-named local) is left alone on purpose: rewriting it would change
what the code means, so `leaks` catches it and the builder drops the example instead.
"""

from __future__ import annotations

import re

from codesweep.tasks.edits import Edit, apply_edits, doc_removal
from codesweep.tasks.functions import Function


def name_pattern(name: str) -> re.Pattern[str]:
    """`name` as a whole word, in any case: "Halve the radius" gives `halve` away too."""
    return re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])", re.IGNORECASE)


def obfuscate(function: Function, placeholder: str, strip_docstring: bool = False) -> str:
    """The function's text with its name replaced by `placeholder` (docstring optionally cut)."""
    edits: list[Edit] = [(span, placeholder) for span in function.name_spans]
    if strip_docstring:
        edits += doc_removal(function)
    elif function.doc_span is not None:
        start, end = function.doc_span
        doc = function.text[start:end]
        edits += [((start + m.start(), start + m.end()), placeholder)
                  for m in name_pattern(function.name).finditer(doc)]
    return apply_edits(function.text, edits)


def leaks(label: str, text: str) -> bool:
    """True when `label` still appears in `text` as a whole word, in any case."""
    return name_pattern(label).search(text) is not None
