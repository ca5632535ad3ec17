"""BLEU as CodeXGLUE computes it, plus sacrebleu's BLEU and chrF for comparison with NLP papers.

CodeXGLUE's `bleu.py` (a copy of the TensorFlow NMT `compute_bleu`) is not on PyPI, so
`codexglue_bleu` implements its definition: n-gram counts up to order 4 clipped by the
reference and summed over the corpus, Lin & Och add-one smoothing on every order,
the brevity penalty, tokens from a whitespace split, rounded to 2 decimals.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from codesweep.metrics.registry import Score, ScoreContext, metric

MAX_ORDER = 4


class BleuStats(NamedTuple):
    """Sufficient statistics of one pair (or a corpus, once summed)."""

    matches: tuple[int, ...]
    possible: tuple[int, ...]
    hypothesis_length: int
    reference_length: int


def _ngrams(tokens: list[str], order: int) -> Counter[tuple[str, ...]]:
    return Counter(zip(*(tokens[i:] for i in range(order)), strict=False))


def pair_stats(
    hypothesis: list[str], reference: list[str], max_order: int = MAX_ORDER
) -> BleuStats:
    """Clipped n-gram matches and possible matches per order for one tokenised pair."""
    matches = tuple(
        sum((_ngrams(hypothesis, n) & _ngrams(reference, n)).values())
        for n in range(1, max_order + 1)
    )
    possible = tuple(max(len(hypothesis) - n + 1, 0) for n in range(1, max_order + 1))
    return BleuStats(matches, possible, len(hypothesis), len(reference))


def sum_stats(stats: Sequence[BleuStats], max_order: int = MAX_ORDER) -> BleuStats:
    """Corpus statistics: every count summed over the pairs."""
    return BleuStats(
        tuple(sum(s.matches[i] for s in stats) for i in range(max_order)),
        tuple(sum(s.possible[i] for s in stats) for i in range(max_order)),
        sum(s.hypothesis_length for s in stats),
        sum(s.reference_length for s in stats),
    )


def smoothed_bleu(stats: BleuStats) -> float:
    """Smoothed BLEU in 0..1 from (summed) statistics, as `compute_bleu(..., smooth=True)`."""
    if stats.hypothesis_length == 0:
        return 0.0  # the reference divides by zero here; an empty output scores nothing
    order = len(stats.matches)
    log_precisions = [
        math.log((m + 1.0) / (p + 1.0)) for m, p in zip(stats.matches, stats.possible, strict=True)
    ]
    geo_mean = math.exp(sum(log_precisions) / order)
    if stats.reference_length == 0:
        return geo_mean  # ratio is infinite: no brevity penalty
    ratio = stats.hypothesis_length / stats.reference_length
    brevity_penalty = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
    return geo_mean * brevity_penalty


@metric("bleu", "CodeXGLUE bleu.py: smoothed corpus BLEU-4 on whitespace tokens, 2 decimals")
def codexglue_bleu(
    predictions: Sequence[str], references: Sequence[str], context: ScoreContext
) -> Score:
    """Corpus BLEU x100 rounded to 2 decimals; per example: the same formula on that pair alone."""
    stats = [pair_stats(p.split(), r.split()) for p, r in zip(predictions, references, strict=True)]
    per_example = [round(100 * smoothed_bleu(s), 2) for s in stats]
    return Score(round(100 * smoothed_bleu(sum_stats(stats)), 2), per_example)


@metric("sacrebleu", "sacrebleu corpus BLEU with its default 13a tokenizer")
def sacre_bleu(
    predictions: Sequence[str], references: Sequence[str], context: ScoreContext
) -> Score:
    """sacrebleu.corpus_bleu with defaults; corpus-level only."""
    import sacrebleu

    if not predictions:
        return Score(0.0)
    return Score(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)


@metric("chrf", "sacrebleu corpus chrF (character order 6, beta 2)")
def chrf(predictions: Sequence[str], references: Sequence[str], context: ScoreContext) -> Score:
    """sacrebleu.corpus_chrf with defaults; per example, sacrebleu.sentence_chrf."""
    import sacrebleu

    if not predictions:
        return Score(0.0, [])
    per_example = [sacrebleu.sentence_chrf(p, [r]).score
                   for p, r in zip(predictions, references, strict=True)]
    return Score(sacrebleu.corpus_chrf(list(predictions), [list(references)]).score, per_example)
