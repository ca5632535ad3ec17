"""Row helpers shared by the builders: per-file RNG, kept/dropped rows, the output frame.

Every builder returns kept *and* dropped rows in one frame; `drop_reason` is KEPT for a
kept row and a short reason (e.g. "label_leak") for a dropped one (`codesweep.drops`). See
`registry` for the contract.
"""

from __future__ import annotations

import random
from typing import Any

import pandas as pd

from codesweep.drops import KEPT
from codesweep.languages import count_code_tokens

BASE_COLUMNS = ["id", "split", "repo", "path", "language", "prompt", "completion", "drop_reason",
                "n_prompt_tokens", "n_completion_tokens"]


def file_rng(seed: int, sha: str, salt: str = "") -> random.Random:
    """An RNG seeded from the run seed and the file's sha: batching cannot change output."""
    return random.Random(f"{seed}:{sha}:{salt}")


def example(file: pd.Series, key: str, prompt: str, completion: str, **extra: Any) -> dict:
    """A kept row for `file`; `key` makes the id unique within the file."""
    return {**_file_fields(file, key), "prompt": prompt, "completion": completion,
            "drop_reason": KEPT, **extra}


def dropped(file: pd.Series, key: str, reason: str, **extra: Any) -> dict:
    """A dropped row: counted in the manifest under `reason`, never written as an example."""
    return {**_file_fields(file, key), "prompt": "", "completion": "", "drop_reason": reason,
            **extra}


def _file_fields(file: pd.Series, key: str) -> dict:
    return {"id": f"{file['sha'][:12]}:{key}", "split": file["split"], "repo": file["repo"],
            "path": file["path"], "language": file["language"]}


def to_frame(rows: list[dict], extra_columns: list[str]) -> pd.DataFrame:
    """The builder's output frame: base columns, then `extra_columns`, with token counts."""
    frame = pd.DataFrame(rows, columns=[*BASE_COLUMNS, *extra_columns])
    frame["n_prompt_tokens"] = pd.Series([count_code_tokens(t) for t in frame["prompt"]],
                                         index=frame.index, dtype="int64")
    frame["n_completion_tokens"] = pd.Series(
        [count_code_tokens(t) for t in frame["completion"]], index=frame.index, dtype="int64")
    return frame
