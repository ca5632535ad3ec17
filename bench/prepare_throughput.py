"""Throughput of `prepare`: the Ray Data pipeline against the single-process loop of the same steps.

Corpora are distinct real files, built by `prepare_scaling.build_corpus`: 1x is the standard
library's Python files, larger sizes add the installed site-packages' files until they hold
4x / 8x as many bytes (a file whose content was already taken is skipped, so exact dedup sees
real work, not repeats). Each implementation runs in its own process; the single-process one
is `tests/prepare_oracle.py`. The Ray one starts the local instance `codesweep prepare` starts
(a logical CPU per core, no dashboard; timed apart, not part of the prepare figures). Peak
memory is that of the whole process tree (the driver, Ray's GCS, raylet and workers), sampled
from /proc every 100 ms: summed RSS, and summed PSS every 500 ms (shared pages such as the
object store counted once), and the tree's CPU seconds per run (Ray start-up included). Ray runs
its workers at niceness 15, so on a busy machine they yield to every other process; the
single-process loop runs at the same niceness so both compete alike, and CPU seconds show the
work whatever the neighbours do.
Figures are medians over repeats.

    python bench/prepare_throughput.py                          # 1x, 4x, 8x; 3 repeats
    python bench/prepare_throughput.py --scales 1 4 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
QUICKSTART = BENCH.parent / "pipelines" / "quickstart.yaml"
TESTS = BENCH.parent / "tests"  # holds the single-process oracle
IMPLS = ("simple", "ray")
PSS_EVERY = 5  # samples between PSS readings
RAY_WORKER_NICENESS = 15  # Ray's default `worker_niceness`


def run_worker(kind: str, corpus: Path, repeats: int) -> dict:
    """In the measured process: run one implementation `repeats` times; seconds per run."""
    from codesweep.config.loader import load_recipe
    from codesweep.config.pipeline import PipelineConfig

    config = load_recipe(QUICKSTART, PipelineConfig,
                         [f"sources=[{{path: '{corpus}', include: ['**/*.py']}}]"])
    start = time.perf_counter()
    if kind == "ray":
        from codesweep.ray_runtime import ensure_ray

        ensure_ray(trials=False)  # the instance `codesweep prepare` starts
    else:
        os.nice(RAY_WORKER_NICENESS)  # compete with other load as Ray's workers do
    startup = time.perf_counter() - start
    seconds, timings, windows = [], [], []
    for repeat in range(repeats):
        scratch = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-{repeat}-"))
        start, began = time.perf_counter(), time.time()
        timings.append(run_once(kind, config, corpus, scratch))
        seconds.append(time.perf_counter() - start)
        windows.append((began, time.time()))
        shutil.rmtree(scratch)
    return {"seconds": seconds, "startup": startup, "timings": timings, "windows": windows}


def run_once(kind: str, config, corpus: Path, scratch: Path) -> dict:
    """One full prepare (fresh cache, so nothing is reused); the Ray one's step timings."""
    if kind == "ray":
        from codesweep.corpus.pipeline import prepare

        result = prepare(config, recipe_dir=corpus, cache_root=scratch, force=True)
        return result.manifest["timings"]
    sys.path.insert(0, str(TESTS))
    from prepare_oracle import prepare_simple

    prepare_simple(config, recipe_dir=corpus, cache_root=scratch, out_dir=scratch / "out")
    return {}


class TreeUsage:
    """Peak summed RSS and PSS of a process and all its descendants, and the CPU seconds they
    used (last reading per process: on a shared machine CPU time shows the work, wall time
    also shows the neighbours), sampled in a thread."""

    def __init__(self, pid: int, period_s: float = 0.1) -> None:
        self.process, self.period_s = psutil.Process(pid), period_s
        self.rss_peak = self.pss_peak = 0
        self.pss_samples: list[tuple[float, int]] = []  # (time.time(), summed PSS)
        self.cpu_by_pid: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeUsage:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        samples = 0
        while not self._done.is_set():
            try:
                members = [self.process, *self.process.children(recursive=True)]
            except psutil.NoSuchProcess:  # the worker has exited
                return
            for member in members:
                self.cpu_by_pid[member.pid] = cpu_of(member, self.cpu_by_pid.get(member.pid, 0))
            self.rss_peak = max(self.rss_peak, sum(map(rss_of, members)))
            if samples % PSS_EVERY == 0:  # reading smaps costs far more than statm
                self.pss_samples.append((time.time(), sum(map(pss_of, members))))
                self.pss_peak = max(self.pss_peak, self.pss_samples[-1][1])
            samples += 1
            time.sleep(self.period_s)


def rss_of(process: psutil.Process) -> int:
    """Resident bytes of one process; 0 for one that exited between listing and reading."""
    try:
        return process.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def pss_of(process: psutil.Process) -> int:
    """Proportional set size of one process (shared pages split among their users)."""
    try:
        return process.memory_full_info().pss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def cpu_of(process: psutil.Process, last: float) -> float:
    """User + system CPU seconds of one process so far (`last` once it has exited)."""
    try:
        times = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return last
    return times.user + times.system


def measure(kind: str, corpus: Path, repeats: int) -> dict:
    """Run the worker in a child process; its timings and the peak memory of its tree."""
    out = corpus.parent / f"{kind}.json"
    log = corpus.parent / f"{kind}.log"
    command = [sys.executable, __file__, "--worker", kind, "--corpus", str(corpus),
               "--repeats", str(repeats), "--out", str(out)]
    with log.open("wb") as sink:
        child = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        with TreeUsage(child.pid) as usage:
            code = child.wait()
    if code != 0:
        raise SystemExit(f"{kind} worker failed (exit {code}):\n{log.read_text()[-3000:]}")
    result = json.loads(out.read_text())
    # each run's own peak: the first run's is what one `codesweep prepare` holds; later runs
    # also find the pages earlier ones touched (the object store's among them)
    result["pss_runs"] = [max((pss for at, pss in usage.pss_samples if start <= at <= end),
                              default=0) for start, end in result["windows"]]
    return {**result, "rss": usage.rss_peak, "pss": usage.pss_peak,
            "cpu": sum(usage.cpu_by_pid.values())}


def median_timings(timings: list[dict]) -> dict[str, float]:
    """Median seconds per pipeline step over the repeats."""
    return {step: statistics.median(run[step] for run in timings) for step in timings[0]}


def print_size(scale: int, files: int, size: int, results: dict[str, dict]) -> None:
    """One line per implementation, the Ray one with its speed-up and step timings."""
    medians = {kind: statistics.median(results[kind]["seconds"]) for kind in IMPLS}
    repeats = len(results["simple"]["seconds"])
    for kind in IMPLS:
        result, seconds = results[kind], medians[kind]
        extra = ""
        if kind == "ray":
            extra = (f" {medians['simple'] / seconds:>8.2f} {result['startup']:>8.1f}")
        print(f"{scale:>4}x {kind:>6} {files:>6} {size / 1e6:>6.1f} {seconds:>8.2f} "
              f"{size / 1e6 / seconds:>6.2f} {result['rss'] / 1e6:>8.0f} "
              f"{result['pss'] / 1e6:>8.0f} {result['cpu'] / repeats:>7.1f}{extra}", flush=True)
    steps = median_timings(results["ray"]["timings"])
    print("      ray steps (median s): "
          + ", ".join(f"{step} {value:.2f}" for step, value in steps.items()), flush=True)
    # the first Ray run also starts the workers' processes and imports (a command's prepare
    # always does); later runs find them
    print("      runs (s): " + "; ".join(
        f"{kind} " + ", ".join(f"{value:.2f}" for value in results[kind]["seconds"])
        for kind in IMPLS), flush=True)
    print("      PSS peak per run (MB): " + "; ".join(
        f"{kind} " + ", ".join(f"{value / 1e6:.0f}" for value in results[kind]["pss_runs"])
        for kind in IMPLS), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 8],
                        help="corpus sizes as multiples of the stdlib's bytes (1 4 8)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per size (median; 3)")
    parser.add_argument("--worker", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.out.write_text(json.dumps(run_worker(args.worker, args.corpus, args.repeats)))
        return
    sys.path.insert(0, str(BENCH))
    from prepare_scaling import build_corpus, stdlib_bytes

    unit = stdlib_bytes()
    print(f"{'size':>5} {'impl':>6} {'files':>6} {'MB':>6} {'median s':>8} {'MB/s':>6} "
          f"{'RSS MB':>8} {'PSS MB':>8} {'CPU s':>7} {'speed-up':>8} {'start s':>8}", flush=True)
    for scale in args.scales:
        with tempfile.TemporaryDirectory(prefix="prepare-bench-") as scratch:
            corpus = Path(scratch) / "corpus"
            files, size = build_corpus(corpus, scale * unit)
            results = {kind: measure(kind, corpus, args.repeats) for kind in IMPLS}
        print_size(scale, files, size, results)


if __name__ == "__main__":
    main()
