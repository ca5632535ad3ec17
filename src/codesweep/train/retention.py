"""Which checkpoints a retention rule drops (no torch: Ray Train's controller uses it)."""

from __future__ import annotations

from typing import Any


def beyond_retention(checkpoints: list[tuple[Any, float]], keep: int,
                     keep_by: str) -> list[Any]:
    """The checkpoints the retention rule drops, from `(checkpoint, val_loss)` pairs listed
    oldest first: all but the `keep` newest, or all but the `keep` lowest val_loss plus the
    newest (a run resumes from its newest)."""
    if len(checkpoints) <= keep:
        return []
    newest = len(checkpoints) - 1
    if keep_by == "val_loss":  # ties go to the newer checkpoint
        ranked = sorted(range(len(checkpoints)), key=lambda i: (checkpoints[i][1], -i))
        kept = set(ranked[:keep]) | {newest}
    else:
        kept = set(range(len(checkpoints) - keep, len(checkpoints)))
    return [checkpoint for i, (checkpoint, _) in enumerate(checkpoints) if i not in kept]


def loss_or_inf(value: Any) -> float:
    """A loss to rank by: missing, non-numeric and NaN losses rank last."""
    if isinstance(value, int | float) and value == value:
        return float(value)
    return float("inf")
