"""A lossless code lexer used to cut token windows and to report token-length statistics.

Tokens are identifiers/numbers (`\\w+`) or single punctuation characters, each carrying the
whitespace before it, so `"".join(code_tokens(text)) == text` always holds. These are *code*
tokens, not model tokens: the corpus is prepared before any model tokenizer is chosen, and code
tokens are a stable, model-independent length measure (roughly 1-1.5 BPE tokens each).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")


def code_tokens(text: str) -> list[str]:
    """Split `text` into code tokens, leading whitespace attached; joins back to `text`."""
    return _TOKEN.findall(text)


def count_code_tokens(text: str) -> int:
    """Number of non-whitespace code tokens in `text`."""
    return sum(1 for token in _TOKEN.findall(text) if not token.isspace())
