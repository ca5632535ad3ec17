"""pass@k: the unbiased estimator of the Codex paper (Chen et al., 2021)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping


def pass_at_k(num_samples: int, num_correct: int, k: int) -> float:
    """Probability (0..1) that at least one of k samples drawn from n passes, given c passed.

    Uses the product form 1 - prod_{i=n-c+1}^{n} (1 - k/i), which avoids the huge
    binomial coefficients of 1 - C(n-c, k) / C(n, k).
    """
    if not 0 <= num_correct <= num_samples:
        raise ValueError(f"need 0 <= num_correct <= num_samples, got {num_correct}, {num_samples}")
    if not 1 <= k <= num_samples:
        raise ValueError(f"need 1 <= k <= num_samples, got k={k} n={num_samples}")
    if num_samples - num_correct < k:
        return 1.0
    first = num_samples - num_correct + 1
    return 1.0 - math.prod(1.0 - k / i for i in range(first, num_samples + 1))


def corpus_pass_at_k(counts: Mapping[str, tuple[int, int]], ks: Iterable[int]) -> dict[str, float]:
    """Mean pass@k x100 over tasks, from {task_id: (n, c)}, for each k every task has n >= k for."""
    scores = {}
    for k in ks:
        if counts and all(n >= k for n, _ in counts.values()):
            values = [pass_at_k(n, c, k) for n, c in counts.values()]
            scores[f"pass@{k}"] = 100.0 * sum(values) / len(values)
    return scores
