"""Per-file reading, transforms and filters. Each filter answers None (keep) or a drop.

A drop is `(reason, detail)`: the reason is a short stable name counted in the manifest,
the detail says by how much the file missed the threshold. Filters are registered in
`FILTERS` and run in `FILTER_ORDER`; `process_batch` runs them all on a pandas batch of
listed files and is what the Ray Data read step maps.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import pandas as pd

from codesweep.config.pipeline import FiltersConfig
from codesweep.corpus.schema import WORK_COLUMNS, drop_fields
from codesweep.drops import KEPT
from codesweep.languages import has_grammar, parser
from codesweep.registry import Registry

Drop = tuple[str, str]
LICENSE_WORDS = re.compile(r"licen[cs]e|copyright|spdx-license-identifier|all rights reserved",
                           re.IGNORECASE)
STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')
NUMBER = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?)")
ALNUM_BYTES = bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123))
NON_ALNUM_BYTES = bytes(b for b in range(256) if b not in ALNUM_BYTES)

# A filter: (text after transforms, language, config) -> None to keep, or a drop.
Filter = Callable[[str, str, FiltersConfig], "Drop | None"]
FILTERS: Registry[Filter] = Registry("corpus filter")


def read_source(abspath: str, max_bytes: int) -> tuple[str | None, Drop | None]:
    """Read a file as UTF-8 text, or say why not (too_large, unreadable, binary, not_utf8).

    The size is checked before reading so a 200 MB file costs one stat, not 200 MB.
    """
    try:
        with open(abspath, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        return None, ("unreadable", exc.strerror or type(exc).__name__)
    if len(data) > max_bytes:
        return None, ("too_large", f"over max_file_bytes={max_bytes}")
    if b"\0" in data:
        return None, ("binary", "contains NUL bytes")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, ("not_utf8", f"invalid UTF-8 at byte {exc.start}")


def strip_license_header(text: str, language: str) -> tuple[str, bool]:
    """Remove a leading comment block that mentions a licence or copyright.

    A shebang and a Python encoding line are kept in place; the block is `#` lines for
    Python, `//` lines or one `/* ... */` block for C-like languages (Java, Kotlin).
    """
    lines = text.splitlines(keepends=True)
    keep = 0
    while keep < len(lines) and keep < 2 and _is_preamble(lines[keep]):
        keep += 1
    end = _comment_block_end(lines, keep, language)
    block = "".join(lines[keep:end])
    if end == keep or not LICENSE_WORDS.search(block):
        return text, False
    while end < len(lines) and not lines[end].strip():
        end += 1  # the blank lines that separated the header from the code
    return "".join(lines[:keep] + lines[end:]), True


def _is_preamble(line: str) -> bool:
    return line.startswith("#!") or bool(re.match(r"#.*coding[:=]", line))


def _comment_block_end(lines: list[str], start: int, language: str) -> int:
    """Index just past the comment block starting at `start` (== start when there is none)."""
    end = start
    while end < len(lines) and not lines[end].strip():
        end += 1
    first = lines[end].lstrip() if end < len(lines) else ""
    if language != "python" and first.startswith("/*"):
        while end < len(lines) and "*/" not in lines[end]:
            end += 1
        return min(end + 1, len(lines))
    prefix = "#" if language == "python" else "//"
    while end < len(lines) and lines[end].lstrip().startswith(prefix):
        end += 1
    return end if end > start and lines[end - 1].strip() else start


def giant_literal(line: str, max_chars: int) -> str | None:
    """Describe a giant literal on this line (a huge string or numeric table), else None."""
    if len(line) <= max_chars:
        return None  # cheap exit: the literal cannot be longer than its line
    longest = max((len(m.group()) for m in STRING_LITERAL.finditer(line)), default=0)
    if longest > max_chars:
        return f"string literal of {longest} chars"
    numeric = numeric_run(line)
    if numeric > max_chars:
        return f"numeric table of {numeric} chars"
    return None


def numeric_run(line: str) -> int:
    """Length of the longest run of comma-separated numbers ("1, 2.5, 0xff, ...") on a line.

    Splitting on commas keeps this linear; a single regex over the run backtracks badly
    on multi-megabyte lines.
    """
    best = run = 0
    for part in line.split(","):
        run = run + len(part) + 1 if NUMBER.fullmatch(part.strip()) else 0
        best = max(best, run)
    return best


def drop_long_lines(text: str, cfg: FiltersConfig) -> tuple[str, int]:
    """Remove lines over max_line_length or holding giant literals; return (text, removed)."""
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if len(line.rstrip("\r\n")) <= cfg.max_line_length
            and giant_literal(line, cfg.max_literal_chars) is None]
    return "".join(kept), len(lines) - len(kept)


@FILTERS.register("generated")
def check_generated(text: str, language: str, cfg: FiltersConfig) -> Drop | None:
    """Autogenerated files announce it near the top ("generated by", "DO NOT EDIT")."""
    if not cfg.drop_generated:
        return None
    head = "\n".join(text.splitlines()[: cfg.generated_marker_lines]).lower()
    for marker in cfg.generated_markers:
        if marker.lower() in head:
            return "autogenerated", f"marker {marker!r} in the first lines"
    return None


@FILTERS.register("long_lines")
def check_long_lines(text: str, language: str, cfg: FiltersConfig) -> Drop | None:
    """Giant literals first (the more specific reason), then the longest line."""
    if cfg.long_lines == "drop_line":
        return None  # drop_long_lines already removed them
    for number, line in enumerate(text.splitlines(), start=1):
        found = giant_literal(line, cfg.max_literal_chars)
        if found:
            return "giant_literal", f"line {number}: {found}"
    longest = max(map(len, text.splitlines()), default=0)
    if longest > cfg.max_line_length:
        return "max_line_length", f"longest line {longest} > {cfg.max_line_length}"
    return None


@FILTERS.register("mean_line_length")
def check_mean_line_length(text: str, language: str, cfg: FiltersConfig) -> Drop | None:
    """Minified or data-like files have long lines on average."""
    lines = text.splitlines()
    mean = sum(map(len, lines)) / max(len(lines), 1)
    if mean > cfg.max_mean_line_length:
        return "mean_line_length", f"mean line {mean:.0f} > {cfg.max_mean_line_length:g}"
    return None


@FILTERS.register("alphanum")
def check_alphanum(text: str, language: str, cfg: FiltersConfig) -> Drop | None:
    """Mostly-symbol files (ASCII art, encoded blobs) have few letters and digits.

    Counted on UTF-8 bytes with a C-speed delete, ASCII letters and digits only.
    """
    data = text.encode("utf-8")
    fraction = len(data.translate(None, NON_ALNUM_BYTES)) / max(len(data), 1)
    if fraction < cfg.min_alphanum_fraction:
        return "alphanum_fraction", f"{fraction:.2f} < {cfg.min_alphanum_fraction:g}"
    return None


@FILTERS.register("too_short")
def check_too_short(text: str, language: str, cfg: FiltersConfig) -> Drop | None:
    """Too few non-blank lines or characters to teach anything."""
    lines = sum(1 for line in text.splitlines() if line.strip())
    if lines < cfg.min_lines:
        return "too_short", f"{lines} non-blank lines < {cfg.min_lines}"
    chars = len(text.strip())
    if chars < cfg.min_chars:
        return "too_short", f"{chars} chars < {cfg.min_chars}"
    return None


@FILTERS.register("parses")
def check_parses(text: str, language: str, cfg: FiltersConfig) -> Drop | None:
    """Optional: drop files tree-sitter cannot parse cleanly (languages without a grammar pass)."""
    if not cfg.parse_check:
        return None
    if not has_grammar(language) or not parser(language).parse(
            text.encode("utf-8")).root_node.has_error:
        return None
    return "parse_error", f"tree-sitter found syntax errors ({language})"


# Order matters only for which reason a file is counted under: the first that fires.
FILTER_ORDER = ["generated", "long_lines", "mean_line_length", "alphanum", "too_short", "parses"]


def filter_text(text: str, language: str, cfg: FiltersConfig) -> tuple[str, bool, int, Drop | None]:
    """Apply transforms, then checks: (text, header_stripped, lines_dropped, drop or None)."""
    stripped = False
    if cfg.strip_license_headers:
        text, stripped = strip_license_header(text, language)
    lines_dropped = 0
    if cfg.long_lines == "drop_line":
        text, lines_dropped = drop_long_lines(text, cfg)
    for name in FILTER_ORDER:
        drop = FILTERS.get(name)(text, language, cfg)
        if drop:
            return text, stripped, lines_dropped, drop
    return text, stripped, lines_dropped, None


def normalized_hash(text: str) -> str:
    """Hash of the content with all whitespace removed: reformatting does not change it."""
    return hashlib.sha1("".join(text.split()).encode("utf-8")).hexdigest()


def process_file(listed: dict, cfg: FiltersConfig) -> dict:
    """Read, transform and check one listed file; return its working row (kept or dropped)."""
    row = {"repo": listed["repo"], "revision": listed["revision"], "path": listed["path"],
           "language": listed["language"], "text": "", "sha": "", "split": "",
           "num_bytes": 0, "num_lines": 0, "header_stripped": False, "lines_dropped": 0,
           "dup_count": 1, "norm_hash": "", "drop_reason": KEPT, "drop_stage": "",
           "drop_detail": ""}
    if listed["size"] > cfg.max_file_bytes:  # decided from the listing: never opened
        return {**row, **drop_fields("filter", "too_large", f"{listed['size']} bytes > "
                                     f"max_file_bytes={cfg.max_file_bytes}")}
    text, drop = read_source(listed["abspath"], cfg.max_file_bytes)
    if drop:
        return {**row, **drop_fields("filter", *drop)}
    text, stripped, lines_dropped, drop = filter_text(text, listed["language"], cfg)
    row.update(header_stripped=stripped, lines_dropped=lines_dropped)
    if drop:
        return {**row, **drop_fields("filter", *drop)}
    encoded = text.encode("utf-8")
    row.update(text=text, sha=hashlib.sha256(encoded).hexdigest(), num_bytes=len(encoded),
               num_lines=len(text.splitlines()), norm_hash=normalized_hash(text))
    return row


def process_batch(batch: pd.DataFrame, cfg: FiltersConfig) -> pd.DataFrame:
    """The Ray Data read step: listed files in, one working row per file out."""
    rows = [process_file(listed, cfg) for listed in batch.to_dict("records")]
    return pd.DataFrame(rows, columns=WORK_COLUMNS)
