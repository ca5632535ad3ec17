"""CodeBLEU against the `codebleu` package's values (fixtures), and without its data-flow bug."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesweep.errors import CodesweepError
from codesweep.metrics import compute
from codesweep.metrics.codebleu import codebleu_components, codebleu_score

REFERENCE = json.loads(
    (Path(__file__).parent / "fixtures" / "metrics" / "codebleu_reference.json").read_text()
)["corpora"]
KEYS = {"ngram": "ngram_match_score", "weighted_ngram": "weighted_ngram_match_score",
        "ast": "syntax_match_score", "dataflow": "dataflow_match_score"}


def _corpus(language: str) -> dict:
    return next(c for c in REFERENCE if c["language"] == language)


def test_java_components_equal_the_reference_everywhere() -> None:
    corpus = _corpus("java")
    ours = codebleu_components(corpus["predictions"], corpus["references"], "java")
    assert ours == pytest.approx({k: corpus["corpus"][v] for k, v in KEYS.items()}, abs=1e-12)
    for pred, ref, theirs in zip(corpus["predictions"], corpus["references"],
                                 corpus["per_pair"], strict=True):
        pair = codebleu_components([pred], [ref], "java")
        assert pair == pytest.approx({k: theirs[v] for k, v in KEYS.items()}, abs=1e-12)


def test_python_components_agree_with_the_reference() -> None:
    corpus = _corpus("python")
    ours = codebleu_components(corpus["predictions"], corpus["references"], "python")
    theirs = {k: corpus["corpus"][v] for k, v in KEYS.items()}
    assert ours["ngram"] == pytest.approx(theirs["ngram"], abs=1e-12)
    assert ours["weighted_ngram"] == pytest.approx(theirs["weighted_ngram"], abs=1e-12)
    # Three predictions with syntax errors parse into different error trees: within 0.005
    assert ours["ast"] == pytest.approx(theirs["ast"], abs=5e-3)
    assert ours["dataflow"] == pytest.approx(theirs["dataflow"], abs=5e-3)


def test_no_reference_data_flow_scores_zero_not_full_credit() -> None:
    preds, refs = ["return 1"], ["return 1"]
    parts = codebleu_components(preds, refs, "python")
    assert parts["dataflow"] == 0.0  # the package reports 0 here, then adds it as 1
    expected = 25.0 * (parts["ngram"] + parts["weighted_ngram"] + parts["ast"])
    assert compute(["codebleu"], preds, refs).scores["codebleu"] == pytest.approx(expected)


def test_weights_are_configurable_and_languages_checked() -> None:
    corpus = _corpus("java")
    only_ast = codebleu_score(corpus["predictions"], corpus["references"], "java", (0, 0, 1, 0))
    assert only_ast == pytest.approx(100 * corpus["corpus"]["syntax_match_score"])
    with pytest.raises(CodesweepError, match='not "kotlin"'):
        compute(["codebleu"], ["a"], ["a"], language="kotlin")
