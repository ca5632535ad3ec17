"""Scoring files outside a sweep: text metrics on predictions paired with references by id,
and pass@k on samples run in the sandbox. Plain functions; `codesweep score` prints them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesweep.errors import CodesweepError

PASS_AT_K = "pass@k"
LANGUAGES = ("python", "java", "kotlin")


@dataclass
class Scored:
    """Corpus-level scores (0-100), how many items, and one row per item."""

    scores: dict[str, float]
    n: int
    per_example: list[dict[str, Any]]
    skipped_ks: list[int]  # pass@k values no score exists for (too few samples somewhere)
    fewest_samples: int = 0
    corpus_only: list[str] = field(default_factory=list)  # metrics without per-example values


def check_metric_names(names: list[str]) -> None:
    """Unknown names get a "did you mean", with pass@k among the choices."""
    from codesweep.errors import did_you_mean
    from codesweep.metrics import available

    known = [*available(), PASS_AT_K]
    for name in names:
        if name not in known:
            raise CodesweepError(
                f'unknown metric "{name}"{did_you_mean(name, known)}; available: {", ".join(known)}'
            )


def score_texts(names: list[str], predictions: Path, references: Path, language: str,
                model: str | None) -> Scored:
    """Text metrics over the (prediction, reference) pairs of two JSONL files."""
    from codesweep.metrics import compute
    from codesweep.metrics.jsonl import pair_by_id

    check_metric_names(names)
    if language not in LANGUAGES:
        raise CodesweepError(f'--language "{language}" is not one of {", ".join(LANGUAGES)}')
    ids, preds, refs = pair_by_id(predictions, references)
    results = compute(names, preds, refs, language=language, model_path=model)
    rows = [{"id": i, **{n: v[j] for n, v in results.per_example.items()}}
            for j, i in enumerate(ids)]
    corpus_only = [name for name in names if name not in results.per_example]
    return Scored(results.scores, len(ids), rows, [], corpus_only=corpus_only)


def score_samples(ks: list[int], samples: Path, problems: str, timeout: float,
                  workers: int) -> Scored:
    """pass@k of a samples file against its problems, every sample run in the sandbox."""
    from codesweep.execution import run_samples
    from codesweep.metrics.jsonl import count_by_task, load_problems, load_samples
    from codesweep.metrics.passk import corpus_pass_at_k

    if timeout <= 0 or workers < 1:
        raise CodesweepError("--timeout must be > 0 and --workers >= 1")
    task_problems = load_problems(problems)
    sample_rows = load_samples(samples, task_problems)
    results = run_samples(task_problems, sample_rows, timeout=timeout, workers=workers)
    counts = count_by_task(results)
    scores = corpus_pass_at_k(counts, ks)
    fewest = min(n for n, _ in counts.values())
    skipped = [k for k in ks if f"pass@{k}" not in scores]
    if len(skipped) == len(ks):
        raise CodesweepError(f"--k {','.join(map(str, ks))}: every k exceeds the {fewest} "
                             "samples of the task with the fewest; pass a smaller k")
    rows = [{"task_id": r.task_id, "passed": r.passed, "status": r.status, "reason": r.reason}
            for r in results]
    return Scored(scores, len(results), rows, skipped, fewest)
