"""The registry: names, "did you mean", protocol-based extension, compute's contract."""

from __future__ import annotations

import pytest

from codesweep.errors import CodesweepError
from codesweep.metrics import (
    Metric,
    Score,
    available,
    compute,
    get_metric,
    higher_is_better,
    register,
)
from codesweep.metrics import registry as registry_module

ISSUE_METRICS = {"bleu", "sacrebleu", "exact_match", "edit_sim", "chrf", "wer", "token_iou",
                 "codebleu", "name_f1", "name_precision", "name_recall", "name_exact",
                 "embedding_cosine"}


def test_every_metric_of_the_issue_is_registered() -> None:
    assert set(available()) >= ISSUE_METRICS
    assert all(isinstance(get_metric(name), Metric) for name in available())


def test_unknown_metric_suggests_the_closest_name() -> None:
    expected = r'unknown metric "edit_simm" \(did you mean "edit_sim"'
    with pytest.raises(CodesweepError, match=expected):
        get_metric("edit_simm")


def test_compute_rejects_bad_names_and_unequal_lengths() -> None:
    with pytest.raises(CodesweepError, match="did you mean"):
        compute(["blue"], ["a"], ["a"])
    with pytest.raises(CodesweepError, match="2 predictions but 1 references"):
        compute(["bleu"], ["a", "b"], ["a"])


def test_compute_returns_scores_and_per_example_where_available() -> None:
    results = compute(["exact_match", "edit_sim", "bleu", "sacrebleu"], ["a b", "x"], ["a  b", "y"])
    assert results.scores["exact_match"] == 50.0
    assert results.per_example["exact_match"] == [100.0, 0.0]
    assert set(results.per_example) == {"exact_match", "edit_sim", "bleu"}  # sacrebleu: corpus


def test_any_object_satisfying_the_protocol_can_be_registered(monkeypatch) -> None:
    monkeypatch.setattr(registry_module, "METRICS", registry_module.METRICS.copy())

    class Length:
        name = "length"
        description = "mean prediction length"
        higher_is_better = True

        def score(self, predictions, references, context) -> Score:
            lengths = [float(len(p)) for p in predictions]
            return Score(sum(lengths) / len(lengths), lengths)

    register(Length())
    assert compute(["length"], ["ab", "abcd"], ["", ""]).scores == {"length": 3.0}
    with pytest.raises(ValueError, match="already registered"):
        register(Length())


def test_empty_inputs_score_zero_without_crashing() -> None:
    names = ["bleu", "sacrebleu", "chrf", "exact_match", "edit_sim", "wer", "token_iou",
             "name_f1"]
    assert set(compute(names, [], []).scores.values()) == {0.0}
    assert compute(["bleu"], ["", ""], ["a b", "c"]).scores["bleu"] == 0.0


def test_metrics_carry_their_direction() -> None:
    assert get_metric("wer").higher_is_better is False  # an error rate: lower is better
    assert get_metric("edit_sim").higher_is_better is True
    assert higher_is_better("wer") is False and higher_is_better("bleu") is True
    assert higher_is_better("pass@1") is True
    directions = {name: get_metric(name).higher_is_better for name in available()}
    assert [name for name, up in directions.items() if not up] == ["wer"]
