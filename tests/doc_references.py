"""Project files named in a text (cluster.yaml, a README section) that must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# tuning/x.yaml, pipelines/x.yaml, eval/x.yaml, bench/x.py ... as a command or prose names them
NAMED_FILE = re.compile(r"(?<![\w./-])((?:tuning|pipelines|eval|bench)/[\w./-]*\w)")


def named_files(text: str) -> list[str]:
    """Project paths named in `text`, in order, each once."""
    return list(dict.fromkeys(NAMED_FILE.findall(text)))


def missing_files(text: str, root: Path = ROOT) -> list[str]:
    """The project paths named in `text` that do not exist under `root`."""
    return [name for name in named_files(text) if not (root / name).exists()]


def markdown_section(markdown: str, heading: str) -> str:
    """The text under `## heading` up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", markdown, flags=re.MULTILINE)
    if match is None:
        raise LookupError(f"no section {heading!r}")
    level = len(match.group(1))
    rest = markdown[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[:end.start()] if end else rest
