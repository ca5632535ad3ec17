"""The metric registry: a protocol, the registered metrics (a `codesweep.registry.Registry`),
and `compute`.

A metric is any object with a `name`, a one-line `description`, a direction
(`higher_is_better`: False for error rates such as `wer`, so rankings sort the right way) and
a `score(predictions, references, context)` method returning a `Score`. Metric families
register plain functions through the `metric` decorator; anything else that satisfies the
protocol can be added with `register`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from codesweep.errors import CodesweepError
from codesweep.registry import Registry


@dataclass(frozen=True)
class ScoreContext:
    """What a metric may need beyond the strings: the language and a model to embed with."""

    language: str = "python"
    model_path: str | None = None


class Score(NamedTuple):
    """A corpus score on the 0-100 scale and, where the metric has them, per-example values."""

    corpus: float
    per_example: list[float] | None = None


@runtime_checkable
class Metric(Protocol):
    """What the registry holds: anything with a name, a description, a direction and `score`."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def higher_is_better(self) -> bool: ...

    def score(
        self, predictions: Sequence[str], references: Sequence[str], context: ScoreContext
    ) -> Score: ...


ScoreFunction = Callable[[Sequence[str], Sequence[str], ScoreContext], Score]


@dataclass(frozen=True)
class FunctionMetric:
    """A metric backed by one function; the common case."""

    name: str
    description: str
    function: ScoreFunction
    higher_is_better: bool = True

    def score(
        self, predictions: Sequence[str], references: Sequence[str], context: ScoreContext
    ) -> Score:
        return self.function(predictions, references, context)


@dataclass
class MetricResults:
    """Scores by metric name (0-100) and per-example values for metrics that have them."""

    scores: dict[str, float] = field(default_factory=dict)
    per_example: dict[str, list[float]] = field(default_factory=dict)


METRICS: Registry[Metric] = Registry("metric")


def register(metric: Metric) -> Metric:
    """Add a metric under its name; registering a name twice is a programming error."""
    METRICS.add(metric.name, metric)
    return metric


def metric(name: str, description: str, *, higher_is_better: bool = True
           ) -> Callable[[ScoreFunction], ScoreFunction]:
    """Decorator: register `function(predictions, references, context) -> Score` as `name`."""

    def decorate(function: ScoreFunction) -> ScoreFunction:
        register(FunctionMetric(name, description, function, higher_is_better))
        return function

    return decorate


def available() -> list[str]:
    """Names of the registered metrics, sorted."""
    return METRICS.names()


def get_metric(name: str) -> Metric:
    """The metric registered as `name`; a CodesweepError with a suggestion otherwise."""
    return METRICS.get(name)


def higher_is_better(name: str) -> bool:
    """Direction of a score name: a registered metric's, or pass@k's (higher is better)."""
    if name.startswith("pass@"):
        return True
    return get_metric(name).higher_is_better


def compute(
    names: list[str],
    predictions: list[str],
    references: list[str],
    *,
    language: str = "python",
    model_path: str | None = None,
) -> MetricResults:
    """Score `predictions` against `references` (same order) with each named metric."""
    metrics = [get_metric(name) for name in names]  # fail on a bad name before any work
    if len(predictions) != len(references):
        raise CodesweepError(
            f"{len(predictions)} predictions but {len(references)} references; they pair up by "
            "position and must have the same length"
        )
    context = ScoreContext(language=language, model_path=model_path)
    results = MetricResults()
    for m in metrics:
        score = m.score(predictions, references, context)
        results.scores[m.name] = float(score.corpus)
        if score.per_example is not None:
            results.per_example[m.name] = [float(v) for v in score.per_example]
    return results
