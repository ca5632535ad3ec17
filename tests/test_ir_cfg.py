"""CFG of each Python construct, as golden text (see `codesweep.ir.cfg` for the notation)."""

from __future__ import annotations

import textwrap

import pytest

from codesweep.ir.cfg import build_cfg

CASES = {
    "if_elif_else": ("""
        def f(x):
            y = 0
            if x > 0:
                y = 1
            elif x < 0:
                y = -1
            else:
                y = 2
            return y
        """, """
        b0: Assign If -> true:b1 false:b3
        b1: Assign -> next:b2
        b2: Return -> return:exit
        b3: If -> true:b4 false:b5
        b4: Assign -> next:b2
        b5: Assign -> next:b2
        """),
    "if_without_else_falls_through": ("""
        def f(x):
            if x:
                x += 1
            return x
        """, """
        b0: If -> true:b1 false:b2
        b1: AugAssign -> next:b2
        b2: Return -> return:exit
        """),
    "for_break_continue_else": ("""
        def f(xs):
            for x in xs:
                if x < 0:
                    continue
                if x > 9:
                    break
                print(x)
            else:
                done()
            return 1
        """, """
        b0: - -> next:b1
        b1: For -> true:b2 false:b8
        b2: If -> true:b3 false:b4
        b3: Continue -> continue:b1
        b4: If -> true:b5 false:b7
        b5: Break -> break:b6
        b6: Return -> return:exit
        b7: Expr -> back:b1
        b8: Expr -> next:b6
        """),
    "while_with_break": ("""
        def f(n):
            while n > 0:
                n -= 1
                if n == 3:
                    break
            return n
        """, """
        b0: - -> next:b1
        b1: While -> true:b2 false:b4
        b2: AugAssign If -> true:b3 false:b1
        b3: Break -> break:b4
        b4: Return -> return:exit
        """),
    "try_except_else_finally": ("""
        def f(path):
            try:
                data = read(path)
            except OSError:
                return None
            except ValueError as error:
                raise RuntimeError() from error
            else:
                data = data.strip()
            finally:
                log(path)
            return data
        """, """
        b0: Try -> next:b1
        b1: Assign -> exception:b2 exception:b5 finally:b3 next:b6
        b2: ExceptHandler Return -> return:b3
        b3: Expr -> return:exit next:b4
        b4: Return -> return:exit
        b5: ExceptHandler Raise -> raise:b3
        b6: Assign -> finally:b3
        """),
    "with_and_return": ("""
        def f(path):
            with open(path) as handle:
                text = handle.read()
            return text
        """, """
        b0: With -> next:b1
        b1: Assign Return -> return:exit
        """),
    "code_after_return_is_unreachable": ("""
        def f():
            return 1
            x = 2
        """, """
        b0: Return -> return:exit
        """),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cfg_golden(case: str) -> None:
    source, expected = CASES[case]
    graph = build_cfg(textwrap.dedent(source))
    assert graph is not None
    assert graph.to_text() == textwrap.dedent(expected).strip()


def test_tokens_and_block_cap() -> None:
    graph = build_cfg(textwrap.dedent(CASES["if_elif_else"][0]))
    assert graph.to_tokens()[:7] == ["<cfg:b0>", "<stmt:Assign>", "<stmt:If>", "<edge:true>",
                                     "<cfg:b1>", "<edge:false>", "<cfg:b3>"]
    capped = graph.to_tokens(max_blocks=2)
    assert capped[-1] == "<cfg:trunc>"
    assert capped[5:7] == ["<edge:false>", "<cfg:trunc>"]  # an edge into a cut block
    assert "<stmt:Return>" not in capped and "<cfg:b3>" not in capped


def test_selects_the_named_function_and_rejects_non_functions() -> None:
    source = "import os\n\ndef helper():\n    pass\n\ndef main(x):\n    return x\n"
    assert build_cfg(source, "main").to_text() == "b0: Return -> return:exit"
    assert build_cfg(source).to_text() == "b0: Pass -> next:exit"
    assert build_cfg("x = 1\n") is None and build_cfg("def (:\n") is None


def test_a_loop_body_ending_in_if_else_loops_back_on_back_edges() -> None:
    graph = build_cfg(textwrap.dedent("""
        def f(items):
            total = 0
            for item in items:
                if item:
                    total += 1
                else:
                    total -= 1
            return total
        """))
    assert graph is not None
    header = next(b for b in graph.blocks if "For" in b.kinds)
    into_header = [label for b in graph.blocks for label, target in b.edges
                   if target == header.id and "For" not in b.kinds and b.id != 0]
    assert into_header == ["back", "back"], graph.to_text()
