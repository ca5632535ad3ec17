"""Throughput of each metric on N prediction/reference pairs, beside its reference library.

    python bench/metrics_throughput.py                      # 10,000 pairs, 3 repeats
    python bench/metrics_throughput.py --pairs 1000 --repeats 1   # quick check
    python bench/metrics_throughput.py --codexglue-bleu PATH/TO/bleu.py   # also time CodeXGLUE's

Pairs are lines of the running Python's standard library, perturbed. References: sacrebleu
for sacrebleu/chrf, rapidfuzz (one call per pair) for edit_sim, CodeXGLUE's bleu.py when a
local copy is given (it is not on PyPI). Prints pairs/s (median over repeats) and the ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

from codesweep.metrics import available, compute

SKIPPED_BY_DEFAULT = {"embedding_cosine"}  # needs --model


def make_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """n code-line pairs from the standard library, perturbed like model output."""
    rng = random.Random(seed)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lines: list[str] = []
    for path in sorted(stdlib.glob("*.py"))[:60]:
        lines += [s.strip() for s in path.read_text(errors="replace").splitlines()
                  if len(s.split()) >= 3]
    refs = [rng.choice(lines) for _ in range(n)]
    preds = []
    for ref in refs:
        tokens = ref.split()
        cut = rng.randrange(1, len(tokens) + 1)
        preds.append(" ".join(tokens[:cut] + rng.choice([[], ["x"], ["(", ")"]])))
    return preds, refs


def references(args: argparse.Namespace) -> dict[str, Callable]:
    """Reference implementations by metric name, each taking (predictions, references)."""
    import sacrebleu
    from rapidfuzz import fuzz

    found: dict[str, Callable] = {
        "sacrebleu": lambda p, r: sacrebleu.corpus_bleu(p, [r]).score,
        "chrf": lambda p, r: sacrebleu.corpus_chrf(p, [r]).score,
        "edit_sim": lambda p, r: [fuzz.ratio(a, b) for a, b in zip(p, r, strict=True)],
    }
    if args.codexglue_bleu:
        spec = importlib.util.spec_from_file_location("codexglue_bleu", args.codexglue_bleu)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found["bleu"] = lambda p, r: module.compute_bleu(
            [[x.split()] for x in r], [x.split() for x in p], 4, True)
    return found


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--codexglue-bleu", help="path to a local copy of CodeXGLUE's bleu.py")
    parser.add_argument("--model", help="model directory, to include embedding_cosine")
    args = parser.parse_args()
    preds, refs = make_pairs(args.pairs)
    theirs = references(args)
    names = [n for n in available() if n not in SKIPPED_BY_DEFAULT or args.model]
    print(f"{args.pairs} pairs, median of {args.repeats}")
    print(f"{'metric':<18}{'ours pairs/s':>14}{'reference pairs/s':>20}{'ratio':>8}")
    for name in names:
        ours = args.pairs / median_seconds(
            lambda n=name: compute([n], preds, refs, model_path=args.model), args.repeats)
        line = f"{name:<18}{ours:>14,.0f}"
        if name in theirs:
            ref = args.pairs / median_seconds(lambda n=name: theirs[n](preds, refs), args.repeats)
            line += f"{ref:>20,.0f}{ours / ref:>8.2f}"
        print(line)


if __name__ == "__main__":
    main()
