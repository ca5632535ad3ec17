"""Function-naming leaks beyond the whole word: case styles, longer names, strings, prose."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from codesweep.tasks.manifest import count_projection, summarize
from codesweep.tasks.naming_leaks import find_leaks, subtokens
from codesweep.tasks.registry import get_builder

KOTLIN = '''class JsonWriter {
    fun beginArray(): JsonWriter {
        val mode = BEGIN_ARRAY
        push(mode)
        return open(mode)
    }

    fun canonicalize(path: String): String {
        val parts = path.split("/")
        val joined = parts.joinToString("/")
        return canonicalizeInternal(joined)
    }

    /** Returns a new JSON writer for the sink. */
    fun newJsonWriter(sink: Sink): JsonWriter {
        val writer = JsonWriter(sink)
        writer.indent = "  "
        return writer
    }

    fun plainWork(count: Int): Int {
        val doubled = count * 2
        val total = doubled + 1
        return total
    }
}
'''

PYTHON = '''def fd_read(handle, size):
    """Read bytes."""
    data = fdRead(handle)
    result = data[:size]
    return result


def _dump_csp_header(value):
    warn("'dump_csp_header' is deprecated")
    text = str(value)
    output = text.strip()
    return output
'''


def files() -> pd.DataFrame:
    rows = []
    for path, language, text in (("JsonWriter.kt", "kotlin", KOTLIN), ("io.py", "python", PYTHON)):
        rows.append({"repo": "r", "revision": "0" * 40, "path": path, "language": language,
                     "text": text, "split": "test",
                     "sha": hashlib.sha256(text.encode()).hexdigest()})
    return pd.DataFrame(rows)


EXPECTED = {"JsonWriter.beginArray": "label_leak_case_variant",
            "JsonWriter.canonicalize": "label_leak_inside_identifier",
            "JsonWriter.newJsonWriter": "label_leak_docstring_words",
            "fd_read": "label_leak_case_variant",
            "_dump_csp_header": "label_leak_string_literal",
            "JsonWriter.plainWork": ""}


def test_subtokens_split_every_style() -> None:
    assert subtokens("getHTTPResponse_code") == ["get", "http", "response", "code"]
    assert subtokens("BEGIN_ARRAY") == subtokens("beginArray") == ["begin", "array"]
    assert subtokens("_dump_csp_header") == ["dump", "csp", "header"]


def test_drop_names_each_kind_and_counts_it() -> None:
    frame = get_builder("function_naming")(files(), {"min_body_lines": 2}, 0)
    assert dict(zip(frame["function"], frame["drop_reason"], strict=True)) == EXPECTED
    dropped = summarize(count_projection(frame))["test"]["dropped"]
    assert dropped["label_leak_case_variant"] == 2 and dropped["label_leak_string_literal"] == 1


def test_mask_keeps_the_example_without_the_leak_and_notes_the_kind() -> None:
    frame = get_builder("function_naming")(files(), {"min_body_lines": 2, "leak": "mask"}, 0)
    kept = frame[frame["drop_reason"] == ""].set_index("function")
    assert set(kept.index) == set(EXPECTED)
    for function, row in kept.iterrows():
        assert not find_leaks(row["label"], row["code"], row["language"], "__masked__"), function
    assert "__masked__Internal(joined)" in kept.loc["JsonWriter.canonicalize", "code"]
    notes = summarize(count_projection(frame))["test"]["notes"]
    assert notes["label_leak_masked_case_variant"] == 2
    assert notes["label_leak_masked_docstring_words"] == 1


@pytest.mark.parametrize("label, code", [("size", "val sized = 1"), ("read", "reader.open()"),
                                         ("open", "// opens nothing")])
def test_unrelated_words_are_not_leaks(label: str, code: str) -> None:
    assert find_leaks(label, code, "kotlin", "__masked__") == []
