"""Function naming: obfuscation of every self-reference, leak check, filters, templates."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from test_tasks_builders import fixture_files

from codesweep.tasks.obfuscate import leaks
from codesweep.tasks.registry import get_builder

ALL_LENGTHS = {"min_body_lines": 1}


def files_of(language: str, text: str) -> pd.DataFrame:
    return pd.DataFrame([{"repo": "r", "revision": "0", "path": f"f.{language}",
                          "language": language, "text": text, "split": "train",
                          "sha": hashlib.sha256(text.encode()).hexdigest()}])


def naming(files: pd.DataFrame, **params) -> pd.DataFrame:
    return get_builder("function_naming")(files, {**ALL_LENGTHS, **params}, 0).set_index("label")


def test_recursion_method_references_and_docstrings_are_obfuscated() -> None:
    frame = naming(fixture_files())
    expected_hidden = {
        "factorial": "return n * __masked__(n - 1)",  # python recursion
        "halve": "self.__masked__(-times)",  # python self.f(...)
        "retry": "callback = self.__masked__",  # python method reference
        "pow2": "this.__masked__(n - 1)",  # kotlin this.f
        "walk": "val next = ::__masked__",  # kotlin callable reference
        "gcd": "return __masked__(b, a % b)",  # kotlin top-level recursion
        "sumFrom": "__masked__(xs, i + 1)",  # java recursion
        "next": "this::__masked__",  # java method reference
    }
    for label, fragment in expected_hidden.items():
        row = frame.loc[label]
        assert row["drop_reason"] == "", label
        assert fragment in row["code"] and fragment in row["prompt"], label
        assert not leaks(label, row["code"]), label
    assert "Return the __masked__ of n; __masked__(0) is 1." in frame.loc["factorial", "code"]
    assert "__masked__ the radius" in frame.loc["halve", "code"]  # "Halve": any case


def test_label_never_appears_in_any_kept_prompt_code() -> None:
    frame = naming(fixture_files())
    kept = frame[frame["drop_reason"] == ""]
    assert len(kept) >= 10
    for label, row in kept.iterrows():
        assert not leaks(label, row["code"])
        assert row["completion"] == label


def test_a_reference_that_cannot_be_rewritten_is_dropped_as_a_leak() -> None:
    frame = naming(fixture_files())
    assert frame.loc["grow", "drop_reason"] == "label_leak"  # bigger.grow(...): another object
    text = 'def size(items):\n    """Count."""\n    total = 0\n    return {"size": total}\n'
    assert naming(files_of("python", text)).loc["size", "drop_reason"] == "label_leak"


def test_a_bare_call_inside_a_method_is_a_global_not_recursion() -> None:
    text = ("class File:\n    def open(self, path):\n        handle = open(path)\n"
            "        return handle\n")
    row = naming(files_of("python", text)).loc["open"]
    assert row["drop_reason"] == "label_leak"  # builtin open() must not be renamed


def test_filters() -> None:
    frame = naming(fixture_files(), min_body_lines=3)
    assert frame.loc["todo", "drop_reason"].tolist() == ["empty_body", "empty_body"]
    assert frame.loc["limit", "drop_reason"] == "abstract"
    assert frame.loc["toString", "drop_reason"] == "super_only"
    assert frame.loc["__init__", "drop_reason"] == "dunder"
    assert frame.loc["clamp", "drop_reason"] == "too_short"
    assert frame.loc["countDown", "drop_reason"] == ""
    every_override = naming(fixture_files(), drop_overrides=True, drop_super_only=False)
    assert every_override.loc["toString", "drop_reason"] == "override"
    keep_super = naming(fixture_files(), drop_super_only=False)
    assert keep_super.loc["toString", "drop_reason"] == "label_leak"  # super.toString() spells it


def test_strip_docstring_removes_doc_lines() -> None:
    frame = naming(fixture_files(), strip_docstring=True)
    assert frame.loc["factorial", "code"].startswith("def __masked__(n: int) -> int:\n    if n")
    assert frame.loc["sumFrom", "code"].startswith("public static int __masked__(")


@pytest.mark.parametrize("kind", ["raw", "instruction"])
def test_templates(kind: str) -> None:
    frame = naming(fixture_files(), template={"kind": kind, "system": "Be brief."})
    row = frame.loc["gcd"]
    if kind == "raw":
        assert row["prompt"].endswith("}\n// A good name for __masked__ is")
        assert row["completion"] == " gcd"
    else:
        assert row["prompt"].startswith("Be brief.\n\n### Instruction:\n")
        assert row["prompt"].endswith("### Response:\n") and row["completion"] == "gcd"
