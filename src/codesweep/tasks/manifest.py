"""Manifest counts of a task: examples and drops per split and reason, token-length statistics.

Counting works across Ray Data batches in two steps: `count_projection` maps each batch of
builder output to a narrow, text-free frame (ints and short strings), and `summarize` turns
all of those, concatenated in the driver, into the manifest entry. Lengths are code tokens
(`codesweep.languages`), a model-independent measure.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from codesweep.drops import KEPT

PROJECTION_COLUMNS = ["split", "drop_reason", "n_prompt_tokens", "n_completion_tokens"]


def count_projection(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns counting needs, without any text: safe to collect from every batch.

    A builder's optional `note` column (short, comma-separated) rides along: it marks kept
    rows the builder changed, e.g. masked label leaks, and is counted per note.
    """
    columns = [*PROJECTION_COLUMNS, *(["note"] if "note" in frame.columns else [])]
    return frame[columns].reset_index(drop=True)


def summarize(projection: pd.DataFrame) -> dict[str, Any]:
    """Per split: examples, dropped rows per reason, prompt/completion token statistics."""
    summary = {}
    for split, rows in sorted(projection.groupby("split"), key=lambda item: str(item[0])):
        kept = rows[rows["drop_reason"] == KEPT]
        reasons = rows.loc[rows["drop_reason"] != KEPT, "drop_reason"].value_counts()
        summary[str(split)] = {
            "examples": len(kept),
            "dropped": {str(k): int(v) for k, v in sorted(reasons.items())},
            "prompt_tokens": length_stats(kept["n_prompt_tokens"]),
            "completion_tokens": length_stats(kept["n_completion_tokens"]),
        }
        notes = note_counts(rows["note"]) if "note" in rows.columns else {}
        if notes:
            summary[str(split)]["notes"] = notes
    return summary


def length_stats(lengths: pd.Series) -> dict[str, float]:
    """min, mean, p50, p90, p99, max of a length column ({} when it is empty)."""
    if lengths.empty:
        return {}
    values = lengths.astype("int64")
    quantiles = values.quantile([0.5, 0.9, 0.99])
    return {"min": int(values.min()), "mean": round(float(values.mean()), 2),
            "p50": float(quantiles[0.5]), "p90": float(quantiles[0.9]),
            "p99": float(quantiles[0.99]), "max": int(values.max())}


def note_counts(notes: pd.Series) -> dict[str, int]:
    """How many rows carry each note (a row may carry several, comma-separated)."""
    notes = notes.fillna("").astype(str)
    exploded = notes[notes != ""].str.split(",").explode()
    return {str(k): int(v) for k, v in sorted(exploded.value_counts().items())}
