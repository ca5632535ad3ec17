"""code2seq's method-name metrics: micro-averaged subtoken precision, recall, F1, exact match."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from codesweep.metrics.registry import Score, ScoreContext, metric

# Boundaries: lower->Upper, acronym->Word ("HTTPServer" -> HTTP|Server), underscores, digits,
# whitespace and any other non-letter; code2seq then keeps letters only and lowercases.
_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|[^A-Za-z]+")


def subtokens(name: str) -> list[str]:
    """Split a name into lowercase letter-only subtokens: "getHTTP2Url_x" -> get, http, url, x."""
    return [part.lower() for part in _BOUNDARY.split(name.strip()) if part]


class NameCounts(NamedTuple):
    true_positive: int
    false_positive: int
    false_negative: int
    exact: bool


def name_counts(prediction: str, reference: str) -> NameCounts:
    """code2seq's per-example counts; an exact hit counts every reference subtoken as a TP."""
    predicted, original = subtokens(prediction), subtokens(reference)
    if "".join(predicted) == "".join(original):
        return NameCounts(len(original), 0, 0, True)
    tp = sum(1 for s in predicted if s in original)
    fn = sum(1 for s in original if s not in predicted)
    return NameCounts(tp, len(predicted) - tp, fn, False)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _prf(counts: Sequence[NameCounts]) -> tuple[float, float, float]:
    tp = sum(c.true_positive for c in counts)
    precision = _ratio(tp, tp + sum(c.false_positive for c in counts))
    recall = _ratio(tp, tp + sum(c.false_negative for c in counts))
    return precision, recall, _f1(precision, recall)


def _counts(predictions: Sequence[str], references: Sequence[str]) -> list[NameCounts]:
    return [name_counts(p, r) for p, r in zip(predictions, references, strict=True)]


@metric("name_precision", "code2seq subtoken precision, micro-averaged")
def name_precision(
    predictions: Sequence[str], references: Sequence[str], ctx: ScoreContext
) -> Score:
    counts = _counts(predictions, references)
    return Score(100 * _prf(counts)[0], [100 * _prf([c])[0] for c in counts])


@metric("name_recall", "code2seq subtoken recall, micro-averaged")
def name_recall(
    predictions: Sequence[str], references: Sequence[str], ctx: ScoreContext
) -> Score:
    counts = _counts(predictions, references)
    return Score(100 * _prf(counts)[1], [100 * _prf([c])[1] for c in counts])


@metric("name_f1", "code2seq subtoken F1 from micro-averaged precision and recall")
def name_f1(
    predictions: Sequence[str], references: Sequence[str], ctx: ScoreContext
) -> Score:
    counts = _counts(predictions, references)
    return Score(100 * _prf(counts)[2], [100 * _prf([c])[2] for c in counts])


@metric("name_exact", "share of names whose subtokens match exactly")
def name_exact(
    predictions: Sequence[str], references: Sequence[str], ctx: ScoreContext
) -> Score:
    per_example = [100.0 * c.exact for c in _counts(predictions, references)]
    return Score(sum(per_example) / len(per_example) if per_example else 0.0, per_example)
