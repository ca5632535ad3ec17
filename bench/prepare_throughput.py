"""Throughput of `prepare`: the Ray Data pipeline against a single-process loop of the same steps.

Corpora are the standard library (the files the quickstart recipe lists) and 2x / 4x copies
of it under renamed directories, so exact dedup must remove the copies. Each implementation
runs in its own process (the Ray one starts its own local cluster, not timed); peak memory is
the largest summed RSS of that process tree (Ray's raylet and workers included), sampled
every 50 ms. Figures are medians over repeats.

    python bench/prepare_throughput.py            # 1x, 2x, 4x; 3 repeats
    python bench/prepare_throughput.py --quick    # 1x, 2x; 1 repeat
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

QUICKSTART = Path(__file__).resolve().parents[1] / "pipelines" / "quickstart.yaml"
TESTS = Path(__file__).resolve().parents[1] / "tests"  # holds the single-process oracle


def build_corpus(root: Path, copies: int) -> tuple[int, int]:
    """Hard-link the stdlib files the quickstart lists into copy0/ .. copyN/; (files, bytes)."""
    from codesweep.config.loader import load_recipe
    from codesweep.config.pipeline import PipelineConfig
    from codesweep.corpus.sources import resolve_sources

    config = load_recipe(QUICKSTART, PipelineConfig)
    [stdlib] = resolve_sources(config, QUICKSTART.parent, root / "unused")
    files = total = 0
    for copy in range(copies):
        for row in stdlib.files:
            target = root / "corpus" / f"copy{copy}" / row["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(row["abspath"], target)
            files, total = files + 1, total + row["size"]
    return files, total


def run_worker(kind: str, corpus: Path, repeats: int) -> list[float]:
    """In the measured process: run one implementation `repeats` times; seconds per run."""
    from codesweep.config.loader import load_recipe
    from codesweep.config.pipeline import PipelineConfig

    config = load_recipe(QUICKSTART, PipelineConfig,
                         [f"sources=[{{path: '{corpus}', include: ['**/*.py']}}]"])
    if kind == "ray":
        from codesweep.ray_runtime import ensure_ray

        ensure_ray()  # cluster start-up is not part of the figures
    seconds = []
    for repeat in range(repeats):
        scratch = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-{repeat}-"))
        start = time.perf_counter()
        run_once(kind, config, corpus, scratch)
        seconds.append(time.perf_counter() - start)
    return seconds


def run_once(kind: str, config, corpus: Path, scratch: Path) -> None:
    """One full prepare (fresh cache, so nothing is reused)."""
    if kind == "ray":
        from codesweep.corpus.pipeline import prepare

        prepare(config, recipe_dir=corpus, cache_root=scratch, force=True)
    else:
        sys.path.insert(0, str(TESTS))
        from prepare_oracle import prepare_simple

        prepare_simple(config, recipe_dir=corpus, cache_root=scratch, out_dir=scratch / "out")


def tree_rss(process: psutil.Process) -> int:
    """Summed resident memory of a process and all its descendants."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:  # the process just exited
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(kind: str, corpus: Path, repeats: int) -> dict:
    """Run the worker in a child process; return its timings and peak tree memory."""
    out = corpus.parent / f"{kind}.json"
    command = [sys.executable, __file__, "--worker", kind, "--corpus", str(corpus),
               "--repeats", str(repeats), "--out", str(out)]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, watched = 0, psutil.Process(child.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(watched))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = child.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{kind} worker failed with exit code {code}")
    return {"seconds": json.loads(out.read_text()), "peak_bytes": peak}


def row(kind: str, copies: int, files: int, size: int, result: dict) -> dict:
    """Figures of one implementation at one corpus size."""
    median = statistics.median(result["seconds"])
    return {"impl": kind, "copies": copies, "files": files, "seconds": median,
            "files_per_s": files / median, "mb_per_s": size / 1e6 / median,
            "peak_mb": result["peak_bytes"] / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1x and 2x, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=["ray", "simple"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.out.write_text(json.dumps(run_worker(args.worker, args.corpus, args.repeats)))
        return
    scales, repeats = ([1, 2], 1) if args.quick else ([1, 2, 4], args.repeats)
    print(f"{'copies':>6} {'impl':>6} {'files':>6} {'median s':>9} {'files/s':>8} "
          f"{'MB/s':>6} {'peak MB':>8}  ray speed-up")
    for copies in scales:
        with tempfile.TemporaryDirectory(prefix="prepare-bench-") as scratch:
            files, size = build_corpus(Path(scratch), copies)
            corpus = Path(scratch) / "corpus"
            rows = [row(kind, copies, files, size, measure(kind, corpus, repeats))
                    for kind in ("simple", "ray")]
        speedup = rows[0]["seconds"] / rows[1]["seconds"]
        for item in rows:
            extra = f"  x{speedup:.2f}" if item["impl"] == "ray" else ""
            print(f"{copies:>5}x {item['impl']:>6} {files:>6} {item['seconds']:>9.2f} "
                  f"{item['files_per_s']:>8.0f} {item['mb_per_s']:>6.2f} {item['peak_mb']:>8.0f}"
                  f"{extra}", flush=True)


if __name__ == "__main__":
    main()
