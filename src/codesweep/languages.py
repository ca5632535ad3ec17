"""What the code knows about programming languages, in one place: which file extensions mean
which language, the tree-sitter grammars (one cached parser per language and process), and
the code tokenizer.

Code tokens are identifiers/numbers (`\\w+`) or single punctuation characters. `code_tokens`
keeps the whitespace before each token, so `"".join(code_tokens(text)) == text` always holds;
`code_words` drops it. These are *code* tokens, not model tokens: the corpus is prepared
before any model tokenizer is chosen, and code tokens are a stable, model-independent length
measure (roughly 1-1.5 BPE tokens each), and the unit of dedup shingles and decontamination
n-grams.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any

from codesweep.errors import CodesweepError

DEFAULT_EXTENSIONS = {".py": "python", ".kt": "kotlin", ".kts": "kotlin", ".java": "java"}
TREE_SITTER_GRAMMARS = {"python": "tree_sitter_python", "java": "tree_sitter_java",
                        "kotlin": "tree_sitter_kotlin"}

_CODE_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")
# A one-line single- or double-quoted string literal, escapes included (C-like and Python).
STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')


def has_grammar(language: str) -> bool:
    """True when a tree-sitter grammar for `language` is known."""
    return language in TREE_SITTER_GRAMMARS


@cache
def parser(language: str) -> Any:
    """The tree-sitter parser of `language` (built once per process, grammars from the
    registry wheels)."""
    import tree_sitter

    if not has_grammar(language):
        raise CodesweepError(f'no tree-sitter grammar for "{language}"; '
                             f"available: {', '.join(sorted(TREE_SITTER_GRAMMARS))}")
    grammar = importlib.import_module(TREE_SITTER_GRAMMARS[language])
    return tree_sitter.Parser(tree_sitter.Language(grammar.language()))


def node_text(node: Any) -> str:
    """A tree-sitter node's source text (tree-sitter types it as optional bytes)."""
    return (node.text or b"").decode()


def code_tokens(text: str) -> list[str]:
    """Split `text` into code tokens, leading whitespace attached; joins back to `text`."""
    return _CODE_TOKEN.findall(text)


def code_words(text: str) -> list[str]:
    """The code tokens of `text` without their whitespace (whitespace-only runs dropped)."""
    return [token.lstrip() for token in _CODE_TOKEN.findall(text) if not token.isspace()]


def count_code_tokens(text: str) -> int:
    """Number of non-whitespace code tokens in `text`."""
    return sum(1 for token in _CODE_TOKEN.findall(text) if not token.isspace())
