"""The drop convention shared by corpus working rows and task rows.

A row that some step or builder decided not to keep stays in the frame with a short stable
`drop_reason` (counted in the manifests) instead of vanishing; a kept row has `drop_reason`
== KEPT. "" rather than None keeps the Arrow column a string even in a batch where nothing
was dropped.
"""

from __future__ import annotations

import pandas as pd

KEPT = ""  # drop_reason of a kept row


def kept_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows nothing has dropped."""
    return frame[frame["drop_reason"] == KEPT]


def dropped_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows something dropped."""
    return frame[frame["drop_reason"] != KEPT]
