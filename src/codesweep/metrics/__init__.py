"""Code metrics by name, on a 0-100 scale, agreeing with the field's reference implementations.

    from codesweep.metrics import compute, available, get_metric, pass_at_k
    compute(["exact_match", "edit_sim", "bleu"], predictions, references).scores

Importing a family module registers its metrics; add a metric with `@metric(name, description)`
(`higher_is_better=False` for error rates) on a `(predictions, references, context) -> Score`
function, or `register(obj)` for any object that satisfies the `Metric` protocol.
"""

from codesweep.metrics import bleu, codebleu, embedding, lexical, names  # noqa: F401  (registers)
from codesweep.metrics.passk import corpus_pass_at_k, pass_at_k
from codesweep.metrics.registry import (
    Metric,
    MetricResults,
    Score,
    ScoreContext,
    available,
    compute,
    get_metric,
    higher_is_better,
    metric,
    register,
)

__all__ = [
    "Metric",
    "MetricResults",
    "Score",
    "ScoreContext",
    "available",
    "compute",
    "corpus_pass_at_k",
    "get_metric",
    "higher_is_better",
    "metric",
    "pass_at_k",
    "register",
]
