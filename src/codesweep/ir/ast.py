"""AST serialization of one function, with a length cap.

Format `sexp` (an S-expression with named brackets), one token per bracket or leaf:
    node := "<ast:TYPE>" node+ "</ast>"   (a node with children)
          | "<ast:TYPE/>"                 (a leaf)
e.g. `def f(x): return x + 1` ->
    <ast:FunctionDef> <ast:arguments> <ast:arg/> </ast> <ast:Return> <ast:BinOp> <ast:Name/>
    <ast:Add/> <ast:Constant/> </ast> </ast> </ast>
Format `types` is the pre-order sequence of `<ast:TYPE/>` without structure (shorter).
Python node types are the standard library's `ast` class names (expression contexts such as
Load/Store are left out: they add length, not structure); Kotlin and Java node types are the
tree-sitter grammar's named node types, comments left out. Identifiers and literals are never
included: the IR describes shape, the code carries names. When the cap is reached the output
ends with `<ast:trunc/>` and still closes every open bracket, so it always parses.
"""

from __future__ import annotations

import ast as pyast
from collections.abc import Iterator
from typing import Literal

from codesweep.languages import parser

AstFormat = Literal["sexp", "types"]
CLOSE = "</ast>"
TRUNCATED = "<ast:trunc/>"
_SKIPPED_PY = (pyast.expr_context,)
_SKIPPED_TS = {"line_comment", "block_comment", "multiline_comment", "comment"}


def serialize_ast(text: str, language: str, fmt: AstFormat = "sexp", max_tokens: int = 256,
                  name: str | None = None) -> str:
    """IR tokens of the first function in `text` (or the one called `name`, Python), joined."""
    return " ".join(ast_tokens(text, language, fmt, max_tokens, name))


def ast_tokens(text: str, language: str, fmt: AstFormat = "sexp", max_tokens: int = 256,
               name: str | None = None) -> list[str]:
    """The AST of the function in `text` as IR tokens, at most `max_tokens` of them."""
    tree = _python_tree(text, name) if language == "python" else _treesitter_tree(text, language)
    if tree is None:
        return []
    return _capped(_emit(tree, fmt), max_tokens)


# A tree here is (type, children) tuples so both parsers share one emitter.
Tree = tuple[str, list["Tree"]]


def _python_tree(text: str, name: str | None) -> Tree | None:
    try:
        module = pyast.parse(text)
    except (SyntaxError, ValueError):
        return None
    function = first_function(module, name)
    return _from_python(function) if function else None


def first_function(module: pyast.Module, name: str | None = None) -> pyast.AST | None:
    """The first top-level function of a module, or the one called `name`."""
    return next((node for node in module.body
                 if isinstance(node, (pyast.FunctionDef, pyast.AsyncFunctionDef))
                 and name in (None, node.name)), None)


def _from_python(node: pyast.AST) -> Tree:
    children = [c for c in pyast.iter_child_nodes(node) if not isinstance(c, _SKIPPED_PY)]
    return type(node).__name__, [_from_python(c) for c in children]


def _treesitter_tree(text: str, language: str) -> Tree | None:
    root = parser(language).parse(text.encode()).root_node
    functions = [n for n in root.named_children if n.type not in _SKIPPED_TS]
    if language == "java" and functions and functions[0].type == "ERROR":
        # a Java method alone is not a compilation unit: parse it inside a class body
        wrapped = parser(language).parse(b"class _ {\n" + text.encode() + b"\n}").root_node
        body = wrapped.named_children[0].child_by_field_name("body")
        functions = [n for n in body.named_children if n.type not in _SKIPPED_TS]
    return _from_treesitter(functions[0]) if functions else None


def _from_treesitter(node) -> Tree:
    children = [c for c in node.named_children if c.type not in _SKIPPED_TS]
    return node.type, [_from_treesitter(c) for c in children]


def _emit(tree: Tree, fmt: AstFormat) -> Iterator[tuple[str, int]]:
    """Yield (token, depth change): +1 opens a bracket, -1 closes one, 0 for leaves."""
    kind, children = tree
    if fmt == "types" or not children:
        yield f"<ast:{kind}/>", 0
        if fmt == "sexp":
            return
    else:
        yield f"<ast:{kind}>", +1
    for child in children:
        yield from _emit(child, fmt)
    if fmt == "sexp":
        yield CLOSE, -1


def _capped(stream: Iterator[tuple[str, int]], max_tokens: int) -> list[str]:
    emitted = list(stream)
    if len(emitted) <= max_tokens:
        return [token for token, _ in emitted]
    tokens: list[str] = []
    depth = 0
    for token, change in emitted:
        # room must remain for this token, the truncation marker and every pending close
        if len(tokens) + 1 + 1 + (depth + change) > max_tokens:
            break
        tokens.append(token)
        depth += change
    return [*tokens, TRUNCATED, *([CLOSE] * depth)]
