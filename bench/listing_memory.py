"""The listing's memory in the driver: streamed in chunks versus held whole.

Lists a large directory with the pipeline's own listing (`resolve_sources`, a local source:
walked, stat'ed and hashed for its revision) and prints the peak of Python allocations while
it runs (tracemalloc) and the wall time, twice: with the listing streamed to its Arrow file
`LISTING_CHUNK_FILES` rows at a time, and with one chunk as large as the listing, which holds
every row as a dict at once, as the driver did before the listing streamed. Default tree:
the interpreter's library directory (standard library and site-packages).

    python bench/listing_memory.py                 # medians of 3 runs each
    python bench/listing_memory.py --root /path/to/a/big/checkout --repeats 1
"""

from __future__ import annotations

import argparse
import statistics
import sysconfig
import tempfile
import time
import tracemalloc
from pathlib import Path

from codesweep.config.pipeline import PipelineConfig
from codesweep.corpus import sources


def measured(config: PipelineConfig, chunk_files: int) -> tuple[int, float, int]:
    """(peak traced bytes, seconds, files listed) of one listing with this chunk size."""
    sources.LISTING_CHUNK_FILES = chunk_files
    with tempfile.TemporaryDirectory() as cache:
        tracemalloc.start()
        started = time.perf_counter()
        [source] = sources.resolve_sources(config, Path.cwd(), Path(cache))
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, seconds, source.count


def median_of(config: PipelineConfig, chunk_files: int, repeats: int) -> tuple[float, ...]:
    """Median peak bytes and seconds of `repeats` listings, and the files listed."""
    runs = [measured(config, chunk_files) for _ in range(repeats)]
    return (statistics.median(run[0] for run in runs), statistics.median(run[1] for run in runs),
            runs[0][2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path,
                        default=Path(sysconfig.get_paths()["stdlib"]).parent)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = PipelineConfig.model_validate({"name": "listing", "sources": [
        {"path": str(args.root.resolve()), "include": ["**/*.py"]}]})
    chunk = sources.LISTING_CHUNK_FILES
    measured(config, chunk)  # warm-up: imports, compiled globs, the directory cache
    rows = [(name, size, *median_of(config, size, args.repeats))
            for name, size in (("streamed", chunk), ("held whole (before)", 10**9))]
    mb = 2**20
    print(f"root: {args.root}  files listed: {rows[0][4]:,}")
    print(f"{'listing':<22}{'chunk rows':>12}{'peak Python MB':>16}{'wall s':>8}")
    for name, size, peak, seconds, _ in rows:
        shown = f"{size:,}" if size < 10**9 else "all"
        print(f"{name:<22}{shown:>12}{peak / mb:>16.1f}{seconds:>8.1f}")
    print(f"peak held whole / streamed: {rows[1][2] / rows[0][2]:.1f}x")


if __name__ == "__main__":
    main()
