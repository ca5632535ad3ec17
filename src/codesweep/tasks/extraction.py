"""Per-file extraction status: did the parser see the whole file, part of it, or nothing?

`complete`: the file parses without errors; `partial`: tree-sitter recovered around ERROR
nodes (Kotlin/Java), so functions inside them may be missing; `failed`: nothing usable (a
Python syntax error: the `ast` extractor reads all or nothing; a tree that is only errors);
`unsupported`: no extractor for the language. The manifest counts files per status and
split (`extraction`), so functions lost to parse errors show up next to the builders'
`no_functions` drops instead of passing silently.
"""

from __future__ import annotations

import ast

import pandas as pd

from codesweep.languages import parser
from codesweep.tasks.functions import LANGUAGES

STATUSES = ("complete", "partial", "failed", "unsupported")


def extraction_status(text: str, language: str) -> str:
    """The extraction status of one file (see the module docstring)."""
    if language not in LANGUAGES:
        return "unsupported"
    if language == "python":
        try:
            ast.parse(text)
        except (SyntaxError, ValueError):
            return "failed"
        return "complete"
    root = parser(language).parse(text.encode()).root_node
    if not root.has_error:
        return "complete"
    usable = [child for child in root.named_children if child.type != "ERROR"]
    return "partial" if usable else "failed"


def status_counts(batch: pd.DataFrame) -> pd.DataFrame:
    """Ray Data step: files per (split, status) of a batch of prepared files."""
    statuses = [extraction_status(text, language)
                for text, language in zip(batch["text"], batch["language"], strict=True)]
    frame = pd.DataFrame({"split": batch["split"].astype(str).to_numpy(), "status": statuses})
    counts = frame.groupby(["split", "status"], as_index=False).size()
    return counts.rename(columns={"size": "files"}).astype({"files": "int64"})


def summarize_status(counts: pd.DataFrame) -> dict[str, dict[str, int]]:
    """split -> status -> files, from the concatenated per-batch counts."""
    summary: dict[str, dict[str, int]] = {}
    if counts.empty:
        return summary
    for (split, status), files in counts.groupby(["split", "status"])["files"].sum().items():
        summary.setdefault(str(split), {})[str(status)] = int(files)
    return summary

