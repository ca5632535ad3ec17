"""String and whitespace-token metrics: exact_match, edit_sim, wer, token_iou."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from codesweep.metrics.registry import Score, ScoreContext, metric


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


@metric("exact_match", "pred.split() == ref.split(), mean x100")
def exact_match(
    predictions: Sequence[str], references: Sequence[str], context: ScoreContext
) -> Score:
    """Whitespace-insensitive exact match, as CodeXGLUE's completion evaluators compute it."""
    pairs = zip(predictions, references, strict=True)
    per_example = [100.0 * (p.split() == r.split()) for p, r in pairs]
    return Score(_mean(per_example), per_example)


@metric("edit_sim", "mean rapidfuzz.fuzz.ratio(pred, ref) (CodeXGLUE / RepoBench edit similarity)")
def edit_sim(predictions: Sequence[str], references: Sequence[str], context: ScoreContext) -> Score:
    """Indel-normalised similarity on characters.

    fuzzywuzzy rounds each example to an integer and difflib's autojunk heuristic
    distorts strings of 200+ characters; rapidfuzz computes the exact ratio.
    """
    if not predictions:
        return Score(0.0, [])
    # float64: cpdist defaults to float32, which would drift from fuzz.ratio in the 6th digit
    scores = process.cpdist(
        list(predictions), list(references), scorer=fuzz.ratio, dtype=np.float64, workers=1
    )
    per_example = scores.tolist()
    return Score(_mean(per_example), per_example)


@metric("wer", "corpus word error rate on whitespace tokens: edit operations / reference tokens",
        higher_is_better=False)
def wer(predictions: Sequence[str], references: Sequence[str], context: ScoreContext) -> Score:
    """Corpus WER x100 (lower is better); per example: that example's own WER x100."""
    errors, lengths = [], []
    for p, r in zip(predictions, references, strict=True):
        ref_tokens = r.split()
        errors.append(Levenshtein.distance(p.split(), ref_tokens))
        lengths.append(len(ref_tokens))
    # An empty reference has no words to get wrong: count each inserted word as one error.
    per_example = [100.0 * e / max(n, 1) for e, n in zip(errors, lengths, strict=True)]
    return Score(100.0 * sum(errors) / max(sum(lengths), 1), per_example)


@metric("token_iou", "|tokens(pred) & tokens(ref)| / |tokens(pred) | tokens(ref)| on token sets")
def token_iou(
    predictions: Sequence[str], references: Sequence[str], context: ScoreContext
) -> Score:
    """Jaccard overlap of whitespace-token sets, mean x100; two empty strings count as equal."""
    per_example = []
    for p, r in zip(predictions, references, strict=True):
        pred_set, ref_set = set(p.split()), set(r.split())
        union = pred_set | ref_set
        per_example.append(100.0 * len(pred_set & ref_set) / len(union) if union else 100.0)
    return Score(_mean(per_example), per_example)
