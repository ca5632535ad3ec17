"""Function extraction facts on the handwritten Python, Kotlin and Java fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesweep.tasks.functions import Function, extract_functions, first_sentence

FIXTURES = Path(__file__).parent / "fixtures" / "tasks"


def functions_of(name: str, language: str) -> dict[str, Function]:
    found = extract_functions((FIXTURES / name).read_text(), language)
    return {function.qualname: function for function in found}


@pytest.fixture(scope="module")
def python() -> dict[str, Function]:
    return functions_of("shapes.py", "python")


@pytest.fixture(scope="module")
def kotlin() -> dict[str, Function]:
    return functions_of("Stack.kt", "kotlin")


@pytest.fixture(scope="module")
def java() -> dict[str, Function]:
    return functions_of("Counter.java", "java")


def test_python_functions_methods_and_classes(python: dict[str, Function]) -> None:
    assert list(python) == [
        "factorial", "clamp", "Shape.area", "Shape.describe", "Circle.__init__", "Circle.area",
        "Circle.describe", "Circle.scaled", "Circle.grow", "Circle.halve", "Circle.retry",
        "Circle.todo"]
    area = python["Shape.area"]
    assert area.is_abstract and area.is_empty and area.modifiers == ("abstractmethod",)
    assert area.text.startswith("@abc.abstractmethod\ndef area(self)")  # decorators, dedented
    assert (area.start_line, area.end_line) == (21, 23)
    assert python["Circle.describe"].only_calls_super
    assert not python["Shape.describe"].only_calls_super
    assert python["Circle.todo"].is_empty and not python["Circle.todo"].is_abstract


def test_python_signature_docstring_and_body(python: dict[str, Function]) -> None:
    scaled = python["Circle.scaled"]
    assert scaled.signature == 'def scaled(self, factor: float) -> "Circle":'
    assert scaled.text[:scaled.signature_end].endswith('-> "Circle":')
    assert scaled.docstring == "Return a copy scaled by factor; scaled(1) is an equal circle."
    doc_start, doc_end = scaled.doc_span
    assert scaled.text[doc_start:doc_end].startswith('"""Return') and scaled.body.startswith('"""')
    assert first_sentence(scaled.docstring) == "Return a copy scaled by factor; scaled(1) is an " \
                                               "equal circle."


def names_at(function: Function) -> list[str]:
    return [function.text[start:end] for start, end in function.name_spans]


def test_python_self_references(python: dict[str, Function]) -> None:
    assert names_at(python["factorial"]) == ["factorial", "factorial"]  # definition + recursion
    assert names_at(python["Circle.halve"]) == ["halve", "halve"]  # self.halve(...)
    assert names_at(python["Circle.retry"]) == ["retry", "retry"]  # callback = self.retry
    assert names_at(python["Circle.grow"]) == ["grow"]  # bigger.grow is another object's


def test_kotlin_modifiers_and_shapes(kotlin: dict[str, Function]) -> None:
    assert kotlin["Shape.area"].is_abstract  # interface member without a body
    assert kotlin["Base.name"].modifiers == ("abstract",) and kotlin["Base.name"].is_abstract
    assert kotlin["Base.describe"].modifiers == ("open",)
    assert kotlin["Square.area"].modifiers == ("override",)
    assert kotlin["Square.area"].signature == "override fun area(): Double"
    assert kotlin["Square.describe"].only_calls_super
    assert not kotlin["Square.name"].only_calls_super
    assert kotlin["Square.todo"].is_empty
    assert kotlin["gcd"].enclosing_class is None


def test_kotlin_doc_comment_and_references(kotlin: dict[str, Function]) -> None:
    pow2 = kotlin["Square.pow2"]
    assert pow2.docstring == "Power of two: pow2(n) doubles pow2(n - 1)."
    assert pow2.text.startswith("/** Power of two")
    assert names_at(pow2) == ["pow2", "pow2"]  # this.pow2(...)
    assert names_at(kotlin["Square.walk"]) == ["walk", "walk"]  # ::walk
    assert names_at(kotlin["gcd"]) == ["gcd", "gcd"]


def test_java_modifiers_doc_and_references(java: dict[str, Function]) -> None:
    assert "Counter.<init>" not in java and "Counter.Counter" not in java  # no constructors
    assert java["Counter.limit"].is_abstract
    assert java["Counter.toString"].modifiers == ("@Override", "override", "public")
    assert java["Counter.toString"].only_calls_super
    assert java["Counter.increment"].docstring == \
        "Adds one to the counter and returns the new value."  # @return block tag left out
    assert names_at(java["Counter.sumFrom"]) == ["sumFrom", "sumFrom"]
    assert names_at(java["Counter.next"]) == ["next", "next"]  # this::next
    assert names_at(java["Counter.resetTo"]) == ["resetTo"]  # this::increment is not it


def test_body_line_range_excludes_header_and_closing_brace(java: dict[str, Function]) -> None:
    increment = java["Counter.increment"]
    lines = increment.text.splitlines()
    first, last = increment.body_line_range()
    assert lines[first - 1] == "public int increment() {"
    assert [lines[first], lines[last]] == ["    count += 1;", "    return count;"]


def test_unparsable_and_unknown_inputs_give_nothing() -> None:
    assert extract_functions("def broken(:\n", "python") == []
    assert extract_functions("fn main() {}", "rust") == []
