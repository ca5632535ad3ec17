"""A straightforward single-process implementation of the same prepare steps: a test oracle.

It exists to check the Ray pipeline (tests compare their outputs file for file) and as the
baseline of `bench/prepare_throughput.py`, so it lives with the tests, not in the package.
It shares the per-file functions with the Ray pipeline but uses datasketch's in-memory
MinHashLSH index for near dedup, and it holds everything in memory, which is exactly what the
Ray version avoids.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from codesweep.config.pipeline import SPLITS, PipelineConfig
from codesweep.corpus import decontam, dedup, filters, repo_split, splits
from codesweep.corpus.schema import EXCLUSIONS_SCHEMA, FILE_COLUMNS, FILES_SCHEMA, uid
from codesweep.corpus.sources import resolve_sources
from codesweep.drops import KEPT
from codesweep.tasks import leakage


def prepare_simple(config: PipelineConfig, *, recipe_dir: Path, cache_root: Path,
                   out_dir: Path) -> dict[str, Any]:
    """Run every step in this process; write files/, exclusions/, tasks/; return counts."""
    sources = resolve_sources(config, Path(recipe_dir), Path(cache_root))
    rows = [filters.process_file({**row, "revision": s.revision}, config.filters)
            for s in sources for row in s.files]
    kept = [row for row in rows if row["drop_reason"] == KEPT]
    if config.decontam.enabled:  # before dedup, as the Ray pipeline: clean twins survive
        bench = decontam.build_index(config.decontam, Path(recipe_dir))
        for row in kept:
            found = decontam.contamination(row["text"], bench, config.decontam)
            if found:
                drop(row, "contaminated", "decontam", found)
    kept = [row for row in kept if row["drop_reason"] == KEPT]
    if config.dedup.exact:
        exact_dedup(kept)
    if config.dedup.near:
        near_dedup([row for row in kept if row["drop_reason"] == KEPT], config)
    repo_splits = repo_split.repo_assignment(sources, config.split, config.seed)
    for row in kept:
        if row["drop_reason"] == KEPT:
            row["split"] = splits.split_of(row["repo"], row["path"], config.split, config.seed,
                                           repo_splits)
    listing_drops = [row for s in sources for row in s.dropped]
    return write_outputs(rows, listing_drops, config, Path(out_dir))


def drop(row: dict, reason: str, stage: str, detail: str) -> None:
    """Mark a row dropped and free its text."""
    row.update(drop_reason=reason, drop_stage=stage, drop_detail=detail, text="")


def exact_dedup(kept: list[dict]) -> None:
    """Keep the smallest (repo, path) per whitespace-free content hash."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in kept:
        groups[row["norm_hash"]].append(row)
    for group in groups.values():
        group.sort(key=lambda r: (r["repo"], r["path"]))
        group[0]["dup_count"] = len(group)
        for row in group[1:]:
            drop(row, "exact_duplicate", "exact_dedup",
                 f"same content as {uid(group[0]['repo'], group[0]['path'])}")


def near_dedup(kept: list[dict], config: PipelineConfig) -> None:
    """MinHash + datasketch's MinHashLSH; candidate pairs verified as in the Ray version."""
    from datasketch import MinHashLSH

    cfg = config.dedup
    lsh = MinHashLSH(num_perm=cfg.num_perm, params=dedup.lsh_params(cfg.threshold, cfg.num_perm))
    signatures = {}
    for row in kept:
        sig = dedup.signature(row["text"], cfg.shingle_size, cfg.num_perm)
        if sig is not None:
            key = uid(row["repo"], row["path"])
            signatures[key] = sig
            lsh.insert(key, as_minhash(sig, cfg.num_perm))
    pairs = set()
    for key, sig in signatures.items():
        for other in lsh.query(as_minhash(sig, cfg.num_perm)):
            if key < other and dedup.jaccard(sig.tobytes(), signatures[other].tobytes()) \
                    >= cfg.threshold:
                pairs.add((key, other))
    drops, sizes = dedup.near_drop_details(dedup.clusters_from_pairs(sorted(pairs)))
    for row in kept:
        key = uid(row["repo"], row["path"])
        if key in drops:
            drop(row, "near_duplicate", "near_dedup", drops[key])
        elif key in sizes:
            row["dup_count"] += sizes[key] - 1


def as_minhash(sig: np.ndarray, num_perm: int):
    """A datasketch MinHash holding a signature computed by dedup.signature."""
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=dedup.MINHASH_SEED, hashvalues=sig,
                   scheme=dedup.MINHASH_SCHEME)


def write_outputs(rows: list[dict], listing_drops: list[dict], config: PipelineConfig,
                  out_dir: Path) -> dict[str, Any]:
    """Write the same layout as the Ray pipeline (one Parquet file per directory)."""
    frame = pd.DataFrame(rows, columns=[*FILE_COLUMNS, "norm_hash", "drop_reason",
                                        "drop_stage", "drop_detail"])
    kept = frame[frame["drop_reason"] == KEPT]
    earlier: dict[str, list] = {task.output_name: [] for task in config.tasks}
    for split in SPLITS:
        part = kept[kept["split"] == split]
        write_table(pa.Table.from_pandas(part[FILE_COLUMNS], schema=FILES_SCHEMA,
                                         preserve_index=False), out_dir / "files" / split)
        for task in config.tasks:
            if split in task.splits:
                write_task(part, task, split, config, out_dir, earlier[task.output_name])
            if config.dedup.examples:
                earlier[task.output_name] += leakage.unit_hashes(leakage.file_shingles(part))
    dropped = frame[frame["drop_reason"] != KEPT]
    exclusions = pd.concat([pd.DataFrame({
        "repo": dropped["repo"], "path": dropped["path"], "reason": dropped["drop_reason"],
        "stage": dropped["drop_stage"], "detail": dropped["drop_detail"]}),
        pd.DataFrame(listing_drops, columns=EXCLUSIONS_SCHEMA.names)])
    write_table(pa.Table.from_pandas(exclusions, schema=EXCLUSIONS_SCHEMA, preserve_index=False),
                out_dir / "exclusions")
    return {"kept": len(kept), "dropped": len(exclusions),
            "splits": {s: int((kept["split"] == s).sum()) for s in SPLITS}}


def write_task(files: pd.DataFrame, task, split: str, config: PipelineConfig, out_dir: Path,
               earlier: list) -> None:
    """Run a builder over a whole split at once, drop eval copies of earlier splits' content
    (`tasks.leakage`), and write its kept examples."""
    from codesweep.corpus.blocks import kept_examples, run_task_builder, task_table

    examples = run_task_builder(files.reset_index(drop=True), task.builder, task.params,
                                config.seed)
    cfg = config.dedup
    if cfg.examples and earlier:
        examples = leakage.mark_cross_split(examples, leakage.reference_of(earlier),
                                            cfg.example_containment, cfg.example_tail_chars)
    if cfg.examples:
        earlier += leakage.unit_hashes(leakage.example_shingles(examples,
                                                                cfg.example_tail_chars))
    write_table(task_table(kept_examples(examples)), out_dir / "tasks" / task.output_name / split)


def write_table(table: pa.Table, directory: Path) -> None:
    """One Parquet file per dataset directory."""
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / "part-0.parquet")
