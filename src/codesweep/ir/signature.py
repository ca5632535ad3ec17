"""A function cut down to what a user has before it is written: its signature and docstring.

`signature_stub` replaces the body with an empty one (Python: the docstring alone, or `...`;
Kotlin/Java: `{}`), so an IR built from the stub carries nothing of the solution. The
non-oracle IR variant (`signature_ir`) serializes this stub instead of the whole function.
JVM doc comments are comments, which the AST leaves out, so for Kotlin and Java the stub's IR
is the IR of the signature alone.
"""

from __future__ import annotations

import ast as pyast

from tree_sitter import Node

from codesweep.ir.ast import first_function
from codesweep.languages import parser

_JVM_FUNCTIONS = {"method_declaration", "function_declaration"}


def signature_stub(code: str, language: str, name: str | None = None) -> str:
    """The first function in `code` (or the Python function `name`) with its body emptied;
    '' when there is no such function."""
    if language == "python":
        return _python_stub(code, name)
    return _jvm_stub(code, language)


def _python_stub(code: str, name: str | None) -> str:
    try:
        function = first_function(pyast.parse(code), name)
    except (SyntaxError, ValueError):
        return ""
    if not isinstance(function, pyast.FunctionDef | pyast.AsyncFunctionDef):
        return ""
    body = function.body
    has_doc = bool(body) and isinstance(body[0], pyast.Expr) \
        and isinstance(body[0].value, pyast.Constant) and isinstance(body[0].value.value, str)
    function.body = [body[0]] if has_doc else [pyast.Expr(pyast.Constant(...))]
    return pyast.unparse(function) + "\n"


def _jvm_stub(code: str, language: str) -> str:
    function = _jvm_function(parser(language).parse(code.encode()).root_node)
    if function is None and language == "java":
        # a Java method alone is not a compilation unit: parse it inside a class body
        function = _jvm_function(parser(language).parse(f"class _ {{\n{code}\n}}".encode())
                                 .root_node)
    if function is None:
        return ""
    body = function.child_by_field_name("body") if language == "java" else next(
        (c for c in function.named_children if c.type == "function_body"), None)
    text = function.text or b""
    if body is None:
        return text.decode()
    head = text[:body.start_byte - function.start_byte]
    return (head.rstrip() + b" {}\n").decode()


def _jvm_function(node: Node) -> Node | None:
    """The first method/function declaration at the top of the tree or in its first class."""
    for child in node.named_children:
        if child.type in _JVM_FUNCTIONS:
            return child
        if child.type in ("class_declaration", "class_body"):
            return _jvm_function(child)
    return None
