"""Per-file extraction status, and files that lose functions to parse errors say so."""

from __future__ import annotations

import hashlib

import pandas as pd

from codesweep.tasks.extraction import extraction_status, status_counts, summarize_status
from codesweep.tasks.registry import get_builder

PARTIAL = """package a

fun ok(a: Int): Int {
    val b = a + 1
    return b
}

fun broken(a: Int: Int {
    return a ++ }
}
"""
NOTHING = """package a

class Broken(
    fun lost(a: Int): Int {
        val b = a + 1
        return b
    }
}
"""
CLEAN = "package a\n\nfun fine(a: Int): Int {\n    val b = a * 2\n    return b\n}\n"
PYTHON_BROKEN = "def f(:\n    return 1\n"
DATA_ONLY = "package a\n\ndata class Point(val x: Int, val y: Int)\n"


def files() -> pd.DataFrame:
    texts = [("Partial.kt", "kotlin", PARTIAL), ("Nothing.kt", "kotlin", NOTHING),
             ("Clean.kt", "kotlin", CLEAN), ("broken.py", "python", PYTHON_BROKEN),
             ("Point.kt", "kotlin", DATA_ONLY), ("notes.rb", "ruby", "puts 1\n")]
    return pd.DataFrame([{"repo": "r", "revision": "0" * 40, "path": path, "language": language,
                          "text": text, "split": "train",
                          "sha": hashlib.sha256(text.encode()).hexdigest()}
                         for path, language, text in texts])


def test_status_per_file_and_counts() -> None:
    statuses = {row.path: extraction_status(row.text, row.language)
                for row in files().itertuples()}
    assert statuses == {"Partial.kt": "partial", "Nothing.kt": "partial", "Clean.kt": "complete",
                        "broken.py": "failed", "Point.kt": "complete", "notes.rb": "unsupported"}
    counts = summarize_status(pd.concat([status_counts(files()), status_counts(files())]))
    assert counts == {"train": {"complete": 4, "partial": 4, "failed": 2, "unsupported": 2}}


def test_partial_files_keep_the_functions_outside_their_errors() -> None:
    frame = get_builder("fim")(files(), {}, 0)
    fate = frame[frame["id"].str.endswith(":file")].set_index("path")["drop_reason"].to_dict()
    assert fate == {"Nothing.kt": "no_functions", "broken.py": "no_functions",
                    "Point.kt": "no_functions", "notes.rb": "unsupported_language"}
    assert "ok" in set(frame.loc[frame["path"] == "Partial.kt", "function"])
