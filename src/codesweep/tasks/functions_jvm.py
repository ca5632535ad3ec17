"""Kotlin and Java function extraction with tree-sitter grammars.

Methods of classes, interfaces, objects and enums plus Kotlin top-level functions are
extracted; local functions (inside another function) and constructors are not.
A Javadoc/KDoc comment directly before a function becomes part of its `text`.
`extract_jvm_fields` lists each class's member fields (the ConCode class context).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from codesweep.languages import node_text, parser
from codesweep.tasks.functions import Function, Span, clean_doc_comment, dedent_lines

_FUNCTION_TYPES = {"java": {"method_declaration"}, "kotlin": {"function_declaration"}}
_CLASS_TYPES = {
    "java": {"class_declaration", "interface_declaration", "enum_declaration",
             "record_declaration"},
    "kotlin": {"class_declaration", "object_declaration"},
}
_COMMENTS = {"line_comment", "block_comment", "multiline_comment"}
_FIELD_TYPES = {"java": {"field_declaration", "constant_declaration", "formal_parameter"},
                "kotlin": {"property_declaration", "class_parameter"}}
# Code whose declarations are locals, not members: never searched for fields.
_NOT_MEMBERS = {"block", "anonymous_initializer", "static_initializer", "constructor_declaration",
                "secondary_constructor", "lambda_expression", "lambda_literal"}


def extract_jvm(source: str, language: str) -> list[Function]:
    """Functions and methods of a Kotlin or Java file, in source order."""
    data = source.encode()
    root = parser(language).parse(data).root_node
    lines = source.splitlines(keepends=True)
    wanted = _FUNCTION_TYPES[language]
    return [_function(node, owner, lines, language)
            for node, owner in _walk(root, None, language, wanted, set())]


def extract_jvm_fields(source: str, language: str) -> dict[str | None, list[str]]:
    """Member fields per enclosing class (named as `Function.enclosing_class`), in source
    order: `type name` for Java (as ConCode gives them), `val name: Type` for Kotlin."""
    root = parser(language).parse(source.encode()).root_node
    opaque = _FUNCTION_TYPES[language] | _NOT_MEMBERS
    fields: dict[str | None, list[str]] = {}
    for node, owner in _walk(root, None, language, _FIELD_TYPES[language], opaque):
        entries = _java_fields(node) if language == "java" else _kotlin_fields(node)
        if entries:
            fields.setdefault(owner, []).extend(entries)
    return fields


def _walk(node: Node, owner: str | None, language: str, wanted: set[str],
          opaque: set[str]) -> Iterator[tuple[Node, str | None]]:
    """Nodes of the `wanted` types with their enclosing class; neither is descended into,
    nor are `opaque` nodes (so local functions and local variables are skipped)."""
    for child in node.named_children:
        if child.type in wanted:
            yield child, owner
        elif child.type in _CLASS_TYPES[language]:
            name = _class_name(child)
            yield from _walk(child, f"{owner}.{name}" if owner else name, language, wanted,
                             opaque)
        elif child.type not in opaque:
            yield from _walk(child, owner, language, wanted, opaque)


def _java_fields(node: Node) -> list[str]:
    """`type name` for each variable of a field declaration or record component."""
    kind = node.child_by_field_name("type")
    if kind is None:
        return []
    type_text = " ".join(node_text(kind).split())
    if node.type == "formal_parameter":  # only a record's components are fields
        is_component = node.parent is not None and node.parent.parent is not None \
            and node.parent.parent.type == "record_declaration"
        name = node.child_by_field_name("name")
        return [f"{type_text} {node_text(name)}"] if is_component and name else []
    names = [d.child_by_field_name("name") for d in node.children_by_field_name("declarator")]
    return [f"{type_text} {node_text(name)}" for name in names if name is not None]


def _kotlin_fields(node: Node) -> list[str]:
    """`val name: Type` of a property or of a `val`/`var` constructor parameter."""
    keyword = next((c.type for c in node.children if c.type in ("val", "var")), None)
    if keyword is None:  # a plain constructor parameter is not a property
        return []
    if node.type == "class_parameter":
        declared = node_text(node).split("=")[0]
        declared = declared[declared.index(keyword) + len(keyword):]
    else:
        variable = next((c for c in node.named_children if c.type == "variable_declaration"),
                        None)
        declared = node_text(variable) if variable is not None else ""
    declared = " ".join(declared.split())
    return [f"{keyword} {declared}"] if declared else []


def _class_name(node: Node) -> str:
    name = node.child_by_field_name("name")
    if name is None:
        name = next((c for c in node.named_children if c.type in ("identifier", "type_identifier")),
                    None)
    return node_text(name) if name is not None else "<anonymous>"


class _Snippet:
    """The function's dedented text and a converter from tree-sitter points to its offsets."""

    def __init__(self, lines: list[str], first_row: int, last_row: int) -> None:
        self.first_row = first_row
        self.lines = lines[first_row:last_row + 1]
        self.text, self.indent = dedent_lines(self.lines)
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) - self.indent)

    def at(self, point: tuple[int, int]) -> int:
        row, col_bytes = point
        line = self.lines[row - self.first_row]
        column = len(line.encode()[:col_bytes].decode(errors="ignore"))
        return self.starts[row - self.first_row] + max(column - self.indent, 0)

    def span(self, node: Node) -> Span:
        return self.at(node.start_point), self.at(node.end_point)


def _doc_comment(node: Node) -> Node | None:
    previous = node.prev_named_sibling
    is_doc = (previous is not None and previous.type in _COMMENTS
              and (previous.text or b"").startswith(b"/**")
              and previous.end_point[0] >= node.start_point[0] - 1)  # directly above
    return previous if is_doc else None


def _function(node: Node, owner: str | None, lines: list[str], language: str) -> Function:
    doc = _doc_comment(node)
    first_row = (doc or node).start_point[0]
    snippet = _Snippet(lines, first_row, node.end_point[0])
    body = _body(node, language)
    modifiers = _modifiers(node)
    name = node.child_by_field_name("name")
    label = node_text(name)
    return Function(
        name=label, language=language, text=snippet.text,
        signature=_signature(node, body, snippet),
        signature_end=_signature_end(body, snippet, node),
        body_start=_body_start(body, snippet, node),
        start_line=first_row + 1, end_line=node.end_point[0] + 1,
        docstring=clean_doc_comment(node_text(doc)) if doc else None,
        doc_span=snippet.span(doc) if doc else None,
        enclosing_class=owner, modifiers=modifiers,
        is_abstract=body is None or "abstract" in modifiers,
        is_empty=body is not None and _is_empty(body, language),
        only_calls_super=body is not None and _only_calls_super(body, label, language),
        name_spans=tuple(sorted({snippet.span(n) for n in _self_references(node, label, owner)})),
    )


def _signature(node: Node, body: Node | None, snippet: _Snippet) -> str:
    """The declaration up to its body on one line, without comments: a `// note` inside the
    header would otherwise swallow the rest of the joined line."""
    start = snippet.at(node.start_point)
    end = snippet.at(body.start_point) if body else snippet.at(node.end_point)
    pieces = []
    for comment in _header_comments(node, body):
        comment_start, comment_end = snippet.span(comment)
        pieces.append(snippet.text[start:comment_start])
        start = comment_end
    pieces.append(snippet.text[start:end])
    joined = " ".join(" ".join(pieces).split())
    return re.sub(r" (?=[,)])", "", joined).rstrip(";")


def _header_comments(node: Node, body: Node | None) -> list[Node]:
    """Comments inside a declaration outside its body, in source order."""
    found, stack = [], [c for c in node.children if c != body]
    while stack:
        current = stack.pop()
        if current.type in _COMMENTS:
            found.append(current)
        else:
            stack.extend(current.children)
    return sorted(found, key=lambda comment: comment.start_byte)


def _body(node: Node, language: str) -> Node | None:
    if language == "java":
        return node.child_by_field_name("body")
    return next((c for c in node.named_children if c.type == "function_body"), None)


def _opening(body: Node) -> Node:
    """The `{` of a block body or the `=` of a Kotlin expression body."""
    block = body.named_children[0] if body.type == "function_body" and body.named_children else body
    if block.type == "block":
        return block.children[0]
    return body.children[0]


def _statements(body: Node) -> list[Node]:
    """Non-comment statements of a body; a Kotlin `= expr` body is its one expression."""
    inner = body.named_children[0] if body.type == "function_body" else body
    if body.type == "function_body" and inner.type != "block":
        return [inner]
    return [c for c in inner.named_children if c.type not in _COMMENTS]


def _signature_end(body: Node | None, snippet: _Snippet, node: Node) -> int:
    return snippet.at(_opening(body).end_point) if body else snippet.at(node.end_point)


def _body_start(body: Node | None, snippet: _Snippet, node: Node) -> int:
    if body is None:
        return snippet.at(node.end_point)
    opening = _opening(body)
    following = opening.next_sibling
    if opening.type == "=" or following is None:
        following = body.named_children[0] if opening.type == "=" else opening
    return snippet.at(following.start_point)


def _modifiers(node: Node) -> tuple[str, ...]:
    """Modifier keywords plus `@Annotation`s; `@Override` also counts as `override`."""
    block = next((c for c in node.children if c.type == "modifiers"), None)
    if block is None:
        return ()
    found = []
    for child in block.children:
        if "annotation" in child.type:
            annotation = node_text(child).split("(")[0].strip()
            found.append(annotation)
            if annotation == "@Override":
                found.append("override")
        else:
            found.append(node_text(child))
    return tuple(found)


def _is_empty(body: Node, language: str) -> bool:
    statements = _statements(body)
    if not statements:
        return True
    only = statements[0]
    is_todo = (language == "kotlin" and len(statements) == 1 and only.type == "call_expression"
               and only.named_children[0].text == b"TODO")
    return is_todo


def _only_calls_super(body: Node, label: str, language: str) -> bool:
    statements = _statements(body)
    if len(statements) != 1:
        return False
    call = statements[0]
    if call.type in ("expression_statement", "return_statement", "return_expression"):
        call = call.named_children[0] if call.named_children else call
    return _is_super_call(call, label, language)


def _is_super_call(call: Node, label: str, language: str) -> bool:
    if language == "java":
        receiver = call.child_by_field_name("object")
        name = call.child_by_field_name("name")
        return (call.type == "method_invocation" and receiver is not None
                and receiver.type == "super" and name is not None and node_text(name) == label)
    if call.type != "call_expression" or call.named_children[0].type != "navigation_expression":
        return False
    target = call.named_children[0]
    return (target.named_children[0].type == "super_expression"
            and node_text(target.named_children[-1]) == label)


def _self_references(node: Node, label: str, owner: str | None) -> Iterator[Node]:
    """The name at the definition and wherever the function refers to itself: bare calls,
    `this.f`, `Class.f`, `this::f`, `::f`. Calls on other receivers are left alone."""
    name = node.child_by_field_name("name")
    if name is not None:
        yield name
    own_receivers = {b"this", (owner or "").rsplit(".", 1)[-1].encode()}
    stack = list(node.named_children)
    while stack:
        current = stack.pop()
        stack.extend(current.named_children)
        target = _referenced_name(current, own_receivers)
        if target is not None and node_text(target) == label:
            yield target


def _referenced_name(node: Node, own_receivers: set[bytes]) -> Node | None:
    """If `node` refers to a method of the same object by name, that name node."""
    kind, named = node.type, node.named_children
    if kind == "method_invocation":  # java: f(x), this.f(x), Class.f(x)
        receiver = node.child_by_field_name("object")
        if receiver is None or receiver.text in own_receivers:
            return node.child_by_field_name("name")
    elif kind == "method_reference" and len(named) == 2 and named[0].text in own_receivers:
        return named[1]  # java: this::f
    elif kind == "call_expression" and named and named[0].type == "identifier":
        return named[0]  # kotlin: f(x)
    elif kind == "navigation_expression" and len(named) == 2 and _is_own(named[0], own_receivers):
        return named[1]  # kotlin: this.f
    elif kind == "callable_reference" and named and (len(named) == 1 or _is_own(named[0],
                                                                                  own_receivers)):
        return named[-1]  # kotlin: ::f, this::f
    return None


def _is_own(receiver: Node, own_receivers: set[bytes]) -> bool:
    return receiver.type == "this_expression" or receiver.text in own_receivers
