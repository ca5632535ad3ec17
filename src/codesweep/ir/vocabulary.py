"""The complete, static list of IR tokens, for variant C's tokenizer extension.

The list is derived from the parsers themselves (every stdlib `ast` node class, every named
tree-sitter node type, every CFG label), not from the data, so it is known before any example
is built and identical for every batch. Python's list follows the running Python's `ast`.
"""

from __future__ import annotations

import ast as pyast
from functools import cache

from codesweep.ir.ast import CLOSE, TRUNCATED
from codesweep.ir.cfg import EDGE_LABELS
from codesweep.languages import parser

# Aliases kept by `ast` for old code; the parser never produces them.
_DEPRECATED = {"Num", "Str", "Bytes", "NameConstant", "Ellipsis", "Index", "ExtSlice", "Suite",
               "Param", "AugLoad", "AugStore", "slice"}


@cache
def python_node_types() -> tuple[str, ...]:
    """Names of the stdlib `ast` node classes the parser can produce."""
    classes = {name: value for name, value in vars(pyast).items()
               if isinstance(value, type) and issubclass(value, pyast.AST)
               and not issubclass(value, pyast.expr_context) and name not in _DEPRECATED
               and not name.startswith("_")}
    # abstract bases (expr, stmt, operator...) are never instantiated by the parser
    concrete = [name for name, cls in classes.items()
                if not any(other is not cls and issubclass(other, cls)
                           for other in classes.values())]
    return tuple(sorted(concrete))


@cache
def treesitter_node_types(language: str) -> tuple[str, ...]:
    """Named, visible node types of the Kotlin or Java grammar."""
    grammar = parser(language).language
    names = {grammar.node_kind_for_id(i) for i in range(grammar.node_kind_count)
             if grammar.node_kind_is_named(i) and grammar.node_kind_is_visible(i)}
    return tuple(sorted(n for n in names if n))


def ast_vocabulary(languages: list[str]) -> list[str]:
    """Every token `ir.ast` can emit for these languages."""
    tokens = {CLOSE, TRUNCATED}
    for language in languages:
        types = python_node_types() if language == "python" else treesitter_node_types(language)
        tokens.update(f"<ast:{t}>" for t in types)
        tokens.update(f"<ast:{t}/>" for t in types)
    return sorted(tokens)


def cfg_vocabulary(max_blocks: int) -> list[str]:
    """Every token `ir.cfg` can emit with at most `max_blocks` blocks."""
    statements = [n for n in python_node_types() if issubclass(getattr(pyast, n), pyast.stmt)]
    tokens = {f"<cfg:b{i}>" for i in range(max_blocks)} | {"<cfg:exit>", "<cfg:trunc>"}
    tokens.update(f"<edge:{label}>" for label in EDGE_LABELS)
    tokens.update(f"<stmt:{kind}>" for kind in [*statements, "ExceptHandler"])
    return sorted(tokens)
