"""How sure a trial beats the base: a paired bootstrap over the held-out examples.

The base and a trial are scored on the same examples, so each example's difference carries
the comparison, and resampling examples gives a confidence interval for the mean difference
(`scipy.stats.bootstrap`). For a metric whose score is the mean over its examples (edit
similarity, exact match), that mean is exactly the difference of the leaderboard's numbers.
Corpus-level metrics (BLEU, chrF, CodeBLEU) are not means of their per-example values and
get no interval here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0  # the same report twice gives the same interval


@dataclass(frozen=True)
class Margin:
    """Mean per-example difference (trial - base) with its confidence interval; how many
    examples the trial did better and worse on."""

    mean: float
    low: float
    high: float
    n: int
    better: int
    worse: int

    def describe(self, metric: str) -> str:
        """`edit +2.50, 95% CI +1.28 to +3.78 (paired bootstrap, 223 examples; ...)`."""
        return (f"{metric} {self.mean:+.2f}, {CONFIDENCE:.0%} CI {self.low:+.2f} to "
                f"{self.high:+.2f} (paired bootstrap, {self.n} examples; {self.better} "
                f"better, {self.worse} worse)")


def paired_margin(base: pd.Series, tuned: pd.Series) -> Margin | None:
    """The margin of `tuned` over `base`, both per-example values indexed by example id;
    only the ids both scored count. None with fewer than two shared examples."""
    both = pd.concat({"base": base, "tuned": tuned}, axis=1, join="inner").dropna()
    if len(both) < 2:
        return None
    differences = (both["tuned"] - both["base"]).to_numpy(dtype=float)
    mean = float(differences.mean())
    better, worse = int((differences > 0).sum()), int((differences < 0).sum())
    if np.ptp(differences) <= 1e-9 * max(1.0, abs(mean)):  # one value resampled is itself
        return Margin(mean, mean, mean, len(differences), better, worse)
    low, high = _interval(differences)
    return Margin(mean, low, high, len(differences), better, worse)


def _interval(differences: np.ndarray) -> tuple[float, float]:
    """BCa (scipy's default, corrected for skew), or the plain percentile interval where
    BCa's acceleration is undefined (nearly all differences alike)."""
    import warnings

    from scipy.stats import bootstrap

    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():  # a NaN interval is the signal, checked below
            warnings.simplefilter("ignore")
            interval = bootstrap((differences,), np.mean, confidence_level=CONFIDENCE,
                                 n_resamples=RESAMPLES, method=method,
                                 rng=np.random.default_rng(SEED)).confidence_interval
        if np.isfinite(interval.low) and np.isfinite(interval.high):
            break
    return float(interval.low), float(interval.high)


def is_mean_of_examples(corpus: float, per_example: pd.Series) -> bool:
    """True when a stored corpus score is the mean of its per-example values (so that the
    margin is the difference of the leaderboard's numbers)."""
    return len(per_example) > 0 and bool(np.isclose(float(per_example.mean()), float(corpus),
                                                    rtol=1e-9, atol=1e-9))
