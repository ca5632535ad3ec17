"""Column names and Arrow schemas of the prepared files and the exclusions table, and the one
way to mark a working row dropped."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

# One row per kept file in files/<split>/. `sha` is the sha256 of `text` (after transforms);
# `dup_count` is how many listed files this row stands for (itself plus exact/near duplicates).
FILES_SCHEMA = pa.schema([
    ("repo", pa.string()),          # source name
    ("revision", pa.string()),      # resolved commit of a git source, or the listing hash
    ("path", pa.string()),          # path inside the source, '/'-separated
    ("language", pa.string()),      # from the extension map
    ("text", pa.string()),          # file content after transforms
    ("sha", pa.string()),           # sha256 hex of text
    ("split", pa.string()),         # train | validation | test
    ("num_bytes", pa.int64()),      # UTF-8 size of text
    ("num_lines", pa.int64()),      # lines in text
    ("header_stripped", pa.bool_()),  # a licence header was removed
    ("lines_dropped", pa.int64()),  # lines removed under long_lines: drop_line
    ("dup_count", pa.int64()),      # files this one represents after dedup (1 = unique)
])

# One row per dropped file in exclusions/.
EXCLUSIONS_SCHEMA = pa.schema([
    ("repo", pa.string()),
    ("path", pa.string()),
    ("reason", pa.string()),   # e.g. too_short, exact_duplicate, contaminated
    ("stage", pa.string()),    # source | filter | exact_dedup | near_dedup | decontam
    ("detail", pa.string()),   # human-readable specifics (threshold, kept twin, benchmark item)
])

FILE_COLUMNS = FILES_SCHEMA.names


def uid(repo: str, path: str) -> str:
    """The identity of a file across stages: repo and path."""
    return f"{repo}:{path}"

# Columns of the working rows between stages: the file columns (split filled last), the
# whitespace-normalised hash used by exact dedup, and the drop fields ("" while kept).
WORK_COLUMNS = [*FILE_COLUMNS, "norm_hash", "drop_reason", "drop_stage", "drop_detail"]


def drop_fields(stage: str, reason: str, detail: str) -> dict[str, str]:
    """The working-row fields that say `stage` dropped a row for `reason`; its text is freed
    (exclusions keep no content)."""
    return {"drop_reason": reason, "drop_stage": stage, "drop_detail": detail, "text": ""}


def mark_dropped(batch: pd.DataFrame, rows: Any, stage: str, reason: str, detail: Any) -> None:
    """Mark `rows` (a boolean mask or index labels) of a working batch dropped, in place;
    `detail` is one string or one per marked row."""
    fields = drop_fields(stage, reason, "")
    batch.loc[rows, list(fields)] = list(fields.values())
    batch.loc[rows, "drop_detail"] = detail

