"""Python function extraction with the standard library's `ast` and `tokenize`.

Module-level functions and methods of (possibly nested) classes are extracted; functions nested
inside functions are not, because their meaning depends on the enclosing closure.
Each function is re-parsed from its own dedented source so every offset is relative to it.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator

from codesweep.tasks.functions import Function, Span, dedent_lines, line_starts

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_ABSTRACT_DECORATORS = {"abstractmethod", "abstractproperty"}


def extract_python(source: str) -> list[Function]:
    """Functions and methods of a Python file, in source order; [] if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines(keepends=True)
    found = []
    for node, owner in _walk_definitions(tree.body, None):
        function = _function_from_node(node, owner, lines)
        if function is not None:
            found.append(function)
    return found


def _walk_definitions(
    body: list[ast.stmt], owner: str | None
) -> Iterator[tuple[FunctionNode, str | None]]:
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, owner
        elif isinstance(node, ast.ClassDef):
            yield from _walk_definitions(node.body, f"{owner}.{node.name}" if owner else node.name)


def _function_from_node(
    node: FunctionNode, owner: str | None, file_lines: list[str]
) -> Function | None:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    text, _ = dedent_lines(file_lines[first - 1:node.end_lineno])
    try:
        own = ast.parse(text).body[0]
        header_colon = _header_colon(text)
    except (SyntaxError, ValueError, IndexError, tokenize.TokenError):
        return None
    assert isinstance(own, (ast.FunctionDef, ast.AsyncFunctionDef))
    offsets = _Offsets(text)
    doc_node = _docstring_node(own)
    decorators = tuple(_decorator_name(d) for d in own.decorator_list)
    return Function(
        name=own.name, language="python", text=text,
        signature=" ".join(text[offsets.at(own.lineno, own.col_offset):header_colon].split()),
        signature_end=header_colon, body_start=offsets.span(own.body[0])[0],
        start_line=first, end_line=node.end_lineno or first,
        docstring=ast.get_docstring(own), doc_span=offsets.span(doc_node) if doc_node else None,
        enclosing_class=owner, modifiers=decorators,
        is_abstract=bool(_ABSTRACT_DECORATORS & set(decorators)),
        is_empty=_is_empty(own), only_calls_super=_only_calls_super(own),
        name_spans=tuple(sorted(_name_spans(own, text, offsets, owner))),
    )


class _Offsets:
    """Convert ast (line, UTF-8 byte column) positions to character offsets in a text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = line_starts(text)
        self.lines = text.splitlines(keepends=True) or [""]

    def at(self, lineno: int, col_bytes: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:col_bytes].decode(errors="ignore"))

    def span(self, node: ast.expr | ast.stmt) -> Span:
        start = self.at(node.lineno, node.col_offset)
        return start, self.at(node.end_lineno or node.lineno, node.end_col_offset or 0)


def _header_colon(text: str) -> int:
    """Offset just after the ':' that ends the `def` header (the first ':' outside brackets)."""
    depth, seen_def = 0, False
    starts = line_starts(text)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NAME and token.string == "def":
            seen_def = True
        elif seen_def and token.type == tokenize.OP:
            depth += token.string in "([{"
            depth -= token.string in ")]}"
            if token.string == ":" and depth == 0:
                return starts[token.end[0] - 1] + token.end[1]  # tokenize counts characters
    raise tokenize.TokenError("no header colon")


def _docstring_node(node: FunctionNode) -> ast.Expr | None:
    first = node.body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return first
    return None


def _decorator_name(decorator: ast.expr) -> str:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ast.unparse(target)


def _code_statements(node: FunctionNode) -> list[ast.stmt]:
    """Body statements without the docstring."""
    return node.body[1:] if _docstring_node(node) else node.body


def _is_empty(node: FunctionNode) -> bool:
    return all(_is_placeholder(stmt) for stmt in _code_statements(node))


def _is_placeholder(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return stmt.value.value is Ellipsis or isinstance(stmt.value.value, str)
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        raised = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"
    return False


def _only_calls_super(node: FunctionNode) -> bool:
    """True for `return super().name(...)` or `super().name(...)` as the whole body."""
    statements = _code_statements(node)
    if len(statements) != 1 or not isinstance(statements[0], (ast.Return, ast.Expr)):
        return False
    call = statements[0].value
    if isinstance(call, ast.Await):
        call = call.value
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return False
    receiver = call.func.value
    is_super = (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name)
                and receiver.func.id == "super")
    return is_super and call.func.attr == node.name


def _name_spans(node: FunctionNode, text: str, offsets: _Offsets, owner: str | None) -> list[Span]:
    """The definition's name, plus recursive references: bare `f` for a top-level function,
    `self.f` / `cls.f` / `Class.f` for a method (a bare `f` inside a method is a global)."""
    spans = [_definition_span(node, text, offsets)]
    receivers = {"self", "cls", (owner or "").rsplit(".", 1)[-1]} - {""}
    for child in ast.walk(node):
        if child is node:
            continue
        if owner is None and isinstance(child, ast.Name) and child.id == node.name:
            spans.append(offsets.span(child))
        elif (owner is not None and isinstance(child, ast.Attribute) and child.attr == node.name
              and isinstance(child.value, ast.Name) and child.value.id in receivers):
            end = offsets.at(child.end_lineno or child.lineno, child.end_col_offset or 0)
            spans.append((end - len(node.name), end))
    return spans


def _definition_span(node: FunctionNode, text: str, offsets: _Offsets) -> Span:
    def_offset = offsets.at(node.lineno, node.col_offset)
    start = text.index(node.name, text.index("def", def_offset) + 3)
    return (start, start + len(node.name))
