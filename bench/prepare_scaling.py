"""How `codesweep prepare` scales with corpus size: wall time and peak memory at 1x/4x/16x.

The 1x corpus is the standard library's Python files (its test suites excluded); larger ones
add the installed site-packages' Python files until they hold 4x / 16x as many bytes. Every
file is a distinct real source file: a file whose content was already taken (a vendored copy,
a link) is skipped, so dedup sees a real corpus, not repeats. Each size runs
`python -m codesweep prepare` (the quickstart pipeline pointed at the corpus, fresh cache) as
a child process; its own peak RSS (the driver) and the peak summed RSS of its whole process
tree (the driver plus the local Ray cluster it starts) are sampled every 100 ms.

    python bench/prepare_scaling.py                  # 1x, 4x, 16x
    python bench/prepare_scaling.py --scales 1 4     # only some sizes
    python bench/prepare_scaling.py --shuffle        # group-bys shuffled at every size

Group-bys of corpora up to `GROUP_IN_ONE_TASK_FILES` listed files run in one task; larger
ones shuffle by shard. `--shuffle` sets that limit to 0 in the child, so a corpus that fits
this machine measures the path a corpus of more files takes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator
from itertools import takewhile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "pipelines" / "quickstart.yaml"
SKIPPED_DIRS = {"site-packages", "dist-packages", "test", "tests", "__pycache__"}


def python_files(root: Path, skip_dirs: set[str]) -> Iterator[Path]:
    """Python files under `root` in a stable order, not descending into `skip_dirs`."""
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(name for name in subdirs if name not in skip_dirs)
        yield from (Path(directory) / name for name in sorted(names) if name.endswith(".py"))


def sources() -> Iterator[tuple[Path, Path]]:
    """(file, path in the corpus): the stdlib first, then site-packages."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for file in python_files(stdlib, SKIPPED_DIRS):
        yield file, Path("stdlib") / file.relative_to(stdlib)
    for index, site in enumerate(dict.fromkeys(
            Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib"))):
        for file in python_files(site, {"__pycache__"}):
            yield file, Path(f"site{index}") / file.relative_to(site)


def distinct_files() -> Iterator[tuple[Path, bytes]]:
    """(path in the corpus, content) of each source whose content was not seen before."""
    seen: set[str] = set()
    for file, relative in sources():
        data = file.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest not in seen and data.strip():
            seen.add(digest)
            yield relative, data


def stdlib_bytes() -> int:
    """Bytes of the 1x corpus: the stdlib's distinct Python files."""
    stdlib = takewhile(lambda item: item[0].parts[0] == "stdlib", distinct_files())
    return sum(len(data) for _, data in stdlib)


def build_corpus(target: Path, budget: int) -> tuple[int, int]:
    """Write distinct files into `target` until they hold `budget` bytes; (files, bytes)."""
    files = size = 0
    for relative, data in distinct_files():
        if size >= budget:
            break
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes(data)
        files, size = files + 1, size + len(data)
    return files, size


class PeakSampler:
    """Peak RSS of one process and of its whole tree, sampled in a thread."""

    def __init__(self, pid: int, period_s: float = 0.1) -> None:
        self.process, self.period_s = psutil.Process(pid), period_s
        self.driver_peak = self.tree_peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                members = [self.process, *self.process.children(recursive=True)]
                driver = self.process.memory_info().rss
            except psutil.NoSuchProcess:  # the driver has exited
                return
            self.driver_peak = max(self.driver_peak, driver)
            self.tree_peak = max(self.tree_peak, sum(_rss(member) for member in members))
            time.sleep(self.period_s)


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:  # a worker that exited between listing and reading
        return 0


# `python -c` preamble for --shuffle: the limit set, then the command line as usual
SHUFFLED = ("import sys, codesweep.corpus.ray_steps as steps; steps.GROUP_IN_ONE_TASK_FILES = 0; "
            "from codesweep.cli.app import app; sys.argv[0] = 'codesweep'; app()")


def run_prepare(corpus: Path, cache: Path, log: Path,
                shuffle: bool = False) -> tuple[float, int, int]:
    """`codesweep prepare` on `corpus`: (wall seconds, driver peak RSS, tree peak RSS)."""
    launcher = ["-c", SHUFFLED] if shuffle else ["-m", "codesweep"]
    command = [sys.executable, *launcher, "prepare", str(QUICKSTART),
               "-o", f"sources=[{{path: '{corpus}', include: ['**/*.py']}}]",
               "--cache-dir", str(cache), "--force"]
    start = time.perf_counter()
    with log.open("wb") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cache.parent)
        with PeakSampler(child.pid) as sampler:
            code = child.wait()
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"prepare failed (exit {code}):\n{log.read_text()[-3000:]}")
    return seconds, sampler.driver_peak, sampler.tree_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16],
                        help="corpus sizes as multiples of the stdlib's bytes")
    parser.add_argument("--keep", type=Path, help="keep corpora, caches and logs here")
    parser.add_argument("--shuffle", action="store_true",
                        help="shuffle the group-bys at every size (see above)")
    args = parser.parse_args()
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="prepare-scaling-"))
    print(f"{'size':>5} {'files':>7} {'MB':>7} {'wall s':>8} {'s/MB':>6} "
          f"{'driver peak MB':>15} {'tree peak MB':>13}", flush=True)
    unit = stdlib_bytes()
    try:
        for scale in args.scales:
            corpus = scratch / f"corpus-{scale}x"
            files, size = build_corpus(corpus, scale * unit)
            cache = scratch / f"cache-{scale}x"
            cache.mkdir(parents=True, exist_ok=True)
            seconds, driver, tree = run_prepare(corpus, cache, scratch / f"prepare-{scale}x.log",
                                                shuffle=args.shuffle)
            megabytes = size / 1e6
            print(f"{scale:>4}x {files:>7} {megabytes:>7.1f} {seconds:>8.1f} "
                  f"{seconds / megabytes:>6.2f} {driver / 1e6:>15.0f} {tree / 1e6:>13.0f}",
                  flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
