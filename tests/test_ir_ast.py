"""AST serialization: golden per language, the cap, and variant C's vocabulary covering it."""

from __future__ import annotations

import pytest
from test_tasks_builders import fixture_files

from codesweep.ir.ast import CLOSE, TRUNCATED, ast_tokens, serialize_ast
from codesweep.tasks.functions import extract_functions
from codesweep.tasks.ir_prompt import IRParams, ir_text, variant_tokens

PY = "def f(x):\n    return x + 1\n"


def test_python_sexp_and_types() -> None:
    assert serialize_ast(PY, "python") == (
        "<ast:FunctionDef> <ast:arguments> <ast:arg/> </ast> <ast:Return> <ast:BinOp> "
        "<ast:Name/> <ast:Add/> <ast:Constant/> </ast> </ast> </ast>")
    assert serialize_ast(PY, "python", "types") == (
        "<ast:FunctionDef/> <ast:arguments/> <ast:arg/> <ast:Return/> <ast:BinOp/> <ast:Name/> "
        "<ast:Add/> <ast:Constant/>")


def test_kotlin_and_java() -> None:
    kotlin = "fun f(x: Int): Int {\n    return x + 1\n}\n"
    assert serialize_ast(kotlin, "kotlin") == (
        "<ast:function_declaration> <ast:identifier/> <ast:function_value_parameters> "
        "<ast:parameter> <ast:identifier/> <ast:user_type> <ast:identifier/> </ast> </ast> </ast> "
        "<ast:user_type> <ast:identifier/> </ast> <ast:function_body> <ast:block> "
        "<ast:return_expression> <ast:binary_expression> <ast:identifier/> <ast:number_literal/> "
        "</ast> </ast> </ast> </ast> </ast>")
    java = "/** Doc. */\nint f(int x) {\n    return x + 1;\n}\n"
    assert serialize_ast(java, "java") == (
        "<ast:method_declaration> <ast:integral_type/> <ast:identifier/> <ast:formal_parameters> "
        "<ast:formal_parameter> <ast:integral_type/> <ast:identifier/> </ast> </ast> <ast:block> "
        "<ast:return_statement> <ast:binary_expression> <ast:identifier/> "
        "<ast:decimal_integer_literal/> </ast> </ast> </ast> </ast>")


@pytest.mark.parametrize("cap", [3, 5, 8, 11, 12])
def test_cap_keeps_brackets_balanced(cap: int) -> None:
    tokens = ast_tokens(PY, "python", max_tokens=cap)
    full = ast_tokens(PY, "python")
    assert len(tokens) <= cap
    opens = sum(t.startswith("<ast:") and not t.endswith("/>") for t in tokens)
    assert opens == tokens.count(CLOSE)
    assert (TRUNCATED in tokens) == (len(full) > cap)


def test_unparsable_gives_no_tokens() -> None:
    assert ast_tokens("def (:\n", "python") == []


def test_variant_c_vocabulary_covers_every_emitted_token() -> None:
    params = IRParams(variant="C", languages=["python", "kotlin", "java"])
    vocabulary = set(variant_tokens(params))
    for row in fixture_files().itertuples():
        for function in extract_functions(row.text, row.language):
            emitted = ir_text(function.text, function.language, params).split()
            ir_only = [t for t in emitted if t.startswith("<")]
            assert ir_only and set(ir_only) <= vocabulary, function.qualname
    assert variant_tokens({"variant": "B"}) == [] and variant_tokens({"variant": "A"}) == []
    assert variant_tokens(params) == sorted(vocabulary)  # deterministic order


def test_variants_a_and_b_prompts() -> None:
    a = ir_text(PY, "python", IRParams(variant="A"))
    b = ir_text(PY, "python", IRParams(variant="B", kinds=["ast", "cfg"]))
    assert a == ""
    assert b.splitlines() == [
        "# AST: " + serialize_ast(PY, "python"),
        "# CFG: <cfg:b0> <stmt:Return> <edge:return> <cfg:exit>"]
    kotlin = ir_text("fun f() {\n}\n", "kotlin", IRParams(variant="B"))
    assert kotlin.startswith("// AST: ") and "CFG" not in kotlin  # CFG is Python-only
