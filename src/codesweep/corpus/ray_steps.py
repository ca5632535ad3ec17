"""The steps of `prepare` on Ray, one function per step (`corpus.steps` names and orders
them), each reading and extending the shared `PrepareState`.

Materialisation points are chosen so no step re-reads the sources and texts cross process
boundaries as rarely as possible: after the one read pass (read & filter, decontamination,
MinHash signatures and extraction status fused into one task per batch; used for counts,
exclusions and dedup, its blocks then joined into about one per CPU) and after splitting
(each split gathered and sorted by one task, in a few pieces the task builders map over).
Each task split is one more pass that builds, marks and hashes its examples.
Passes over blocks run as plain Ray tasks, all started at once (`mapped_blocks`), and so do
the writes of outputs gathered in a few blocks (`write_blocks`). Ray Data runs what needs a
shuffle: group-bys of corpora past GROUP_IN_ONE_TASK_FILES (smaller ones group in one task),
which shuffle text-free projections (hashes, band keys, signatures), and the sorts and
writes of splits past SORTED_SPLIT_BYTES. What the steps pass on (dedup marks,
near-duplicate clusters, the leakage references of the eval splits) is gathered by a task
from materialised blocks and stays in the object store, where the maps fetch it; the driver
gets counts and histograms, so its memory does not grow with the corpus that way.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import ray
import ray.data
from ray.data.context import ShuffleStrategy

from codesweep.config.pipeline import SPLITS, PipelineConfig, TaskConfig
from codesweep.corpus import blocks, decontam, dedup, filters, leak_guard, repo_split, splits
from codesweep.corpus.output import ensure_readable
from codesweep.corpus.schema import EXCLUSIONS_SCHEMA, FILE_COLUMNS, FILES_SCHEMA
from codesweep.corpus.sources import ResolvedSource
from codesweep.corpus.steps import PrepareState
from codesweep.drops import KEPT, dropped_rows, kept_rows
from codesweep.errors import CodesweepError
from codesweep.languages import code_words
from codesweep.tasks import extraction, leakage

# Where a file can be dropped (the `drop_stage` column), in pipeline order.
DROP_STAGES = ["source", "filter", "decontam", "exact_dedup", "near_dedup"]


@contextmanager
def ray_data_settings() -> Iterator[None]:
    """Ray Data settings for prepare, restored afterwards (later stages share the process).

    Our progress lines replace Ray Data's bars and log lines. The group-bys shuffle little
    data (hashes, band keys); the task-based sort shuffle runs them in about a second where
    the actor-based hash shuffle spends many seconds starting its aggregators on 2 cores.
    Ray Data's warning that a dataset "will hang" for want of free CPUs is left out: it is
    meant for CPUs that actors or trials hold, and here a write that starts while the tasks
    it waits on hold every CPU (a race on a 2-core machine) simply runs after them.
    """
    ctx = ray.data.DataContext.get_current()
    wanted = {"enable_progress_bars": False, "print_on_execution_start": False,
              "enable_auto_log_stats": False,
              "shuffle_strategy": ShuffleStrategy.SORT_SHUFFLE_PULL_BASED}
    saved = {name: getattr(ctx, name) for name in wanted}
    logger = logging.getLogger("ray.data")
    saved_level = logger.level
    for name, value in wanted.items():
        setattr(ctx, name, value)
    logger.setLevel(logging.WARNING)
    dataset_logger = logging.getLogger("ray.data.dataset")
    dataset_logger.addFilter(no_free_cpu_warning)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(ctx, name, value)
        logger.setLevel(saved_level)
        dataset_logger.removeFilter(no_free_cpu_warning)


def no_free_cpu_warning(record: logging.LogRecord) -> bool:
    """Logging filter: False for Ray Data's "no available CPUs" warning (see above)."""
    return "does not have any available CPUs" not in record.getMessage()


SORTED_SPLIT_BYTES = 256 * 2**20  # larger splits get Ray Data's distributed sort
# Rows per Parquet row group, the unit a direct loader reads: about 15 MB of source files or
# 1-2 MB of task examples. Without it a part file is one group of up to a million rows.
ROW_GROUP_ROWS = 1024


def cluster_cpus() -> int:
    """The CPUs of the cluster now: task slots, and the width of the passes over blocks."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def default_partitions() -> int:
    """Shuffle partitions: a couple per CPU (Ray's default of 200 is slow on a laptop)."""
    return max(2, min(64, 2 * cluster_cpus()))


def pandas_map(ds: ray.data.Dataset, fn, **kwargs: Any) -> ray.data.Dataset:
    """map_batches over whole blocks in pandas format, the shape of every step here."""
    return ds.map_batches(fn, batch_format="pandas", batch_size=None, fn_kwargs=kwargs or None)


def assign_repos(state: PrepareState) -> None:
    """`split.by: repo`: repositories to splits from the listing, before any file is read."""
    state.repo_splits = repo_split.repo_assignment(state.sources, state.config.split,
                                                   state.config.seed)


def read_and_filter(state: PrepareState) -> None:
    """Listed files -> one working row each, read and checked in parallel batches.

    One pass over the texts: the same tasks also mark benchmark contamination (the
    `decontaminate` step's work), compute near-dedup signatures and, for the task report,
    each file's extraction status (see `read_block`).
    """
    listing = pa.concat_tables([source.listing_table() for source in state.sources])
    if not listing.num_rows:
        raise CodesweepError(no_files_message(state.sources))
    revisions = {source.name: source.revision for source in state.sources}
    sizes = listing.column("size").to_numpy()
    batches = read_batches(sizes, state.config.execution.files_per_batch, cluster_cpus())
    # one batch's rows at a time in the driver: the listing itself stays memory-mapped
    batch_refs = [ray.put(listed_batch(listing.slice(start, end - start), revisions))
                  for start, end in batches]
    # plain tasks: Ray Data's executor ramps up to the task slots (see `mapped_blocks`)
    refs = mapped_blocks(batch_refs, read_block, placement=where_sources_are(state.sources),
                         cfg=state.config, bench=WorkerCached(ray.put(state.bench)))
    state.read = coalesced(refs, int(sizes.sum()))


def listed_batch(rows: pa.Table, revisions: dict[str, str]) -> pa.Table:
    """A read batch: listing rows with their source's revision, copied out of the map."""
    batch = [{**row, "revision": revisions[row["repo"]]} for row in rows.to_pylist()]
    return pa.Table.from_pylist(batch)


def where_sources_are(sources: list[ResolvedSource]) -> dict[str, Any]:
    """Ray task options that keep a task reading source files on this process's node.

    Sources are directories on the driver's machine (a path in the recipe, a checkout in the
    cache): a read task on another node finds none of its files and drops them as
    `unreadable` (6 of 60 files on a two-node cluster). Roots on a network filesystem are
    read anywhere. Once read, texts live in the object store and later passes run anywhere.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from codesweep.storage_checks import on_network_filesystem

    if all(on_network_filesystem(str(source.root)) for source in sources):
        return {}
    node = ray.get_runtime_context().get_node_id()
    [cpus] = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n["NodeID"] == node]
    if cpus < 1:
        roots = ", ".join(str(source.root) for source in sources)
        raise CodesweepError(
            f"prepare: the sources ({roots}) are on this node's disk, which has no CPUs for "
            "Ray tasks; give it CPUs, or put the sources on a filesystem every node mounts")
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=False)}


# Reading wants small batches (`files_per_batch`: parallel, even work); every later pass is
# light per row and pays a task per block, so the read blocks are joined into about one per
# CPU, each up to about COALESCED_BLOCK_BYTES of source (Ray Data's own block target is
# 128 MB). On the standard library and 2 cores: 13 read blocks, 4 blocks after.
COALESCED_BLOCK_BYTES = 64 * 2**20


def coalesced(refs: list, source_bytes: int) -> ray.data.Dataset:
    """Blocks joined in order into fewer blocks (see above), as a dataset."""
    wanted = max(cluster_cpus(), -(-source_bytes // COALESCED_BLOCK_BYTES))
    if len(refs) > wanted:
        bounds = [len(refs) * number // wanted for number in range(wanted + 1)]
        refs = [joined_tables.remote(*refs[start:end])
                for start, end in zip(bounds, bounds[1:], strict=False)]
    return ray.data.from_arrow_refs(refs)


@ray.remote
def joined_tables(*tables: pa.Table) -> pa.Table:
    """The tables concatenated in order (their schemas unified: a block's column of nulls
    joins another's strings)."""
    filled = [table for table in tables if table.num_rows] or list(tables[:1])
    return pa.concat_tables(filled, promote_options="permissive")


def read_batches(sizes: np.ndarray, files_per_batch: int, cpus: int) -> list[tuple[int, int]]:
    """(start, end) of the read pass's batches: contiguous runs of the listing (`sizes`: its
    files' sizes in listing order), about `files_per_batch` files each, cut where they hold
    equal shares of the bytes (plus one per file: empty files still cost a task some time),
    and a multiple of `cpus` of them.

    Runs of equal counts ended with one large batch, or a last wave of one, working alone
    while the other cores idled: 13 batches for the standard library on 4 task slots.
    """
    wanted = max(1, -(-len(sizes) // files_per_batch))
    wanted = min(len(sizes), -(-wanted // cpus) * cpus)
    cumulative = np.cumsum(np.asarray(sizes, dtype=np.int64) + 1)
    shares = cumulative[-1] * np.arange(1, wanted) / wanted
    cuts = [0, *np.searchsorted(cumulative, shares, side="left").tolist(), len(sizes)]
    return [(start, end) for start, end in zip(cuts, cuts[1:], strict=False) if end > start]


def read_block(batch: pd.DataFrame, cfg: PipelineConfig,
               bench: decontam.BenchmarkIndex | None) -> pd.DataFrame:
    """Read & filter, decontaminate and sign one block: fusing them keeps each text in one
    task from the file to the materialised row (no serialisation between the steps).

    Signatures serve near dedup, or, with it off, the count of near duplicates across splits.
    """
    with blocks.collector_paused():
        rows = filters.process_batch(batch, cfg.filters).reset_index(drop=True)
        # each kept text is split into code words once, for both decontamination and MinHash
        tokens = [code_words(text) if reason == KEPT else None
                  for text, reason in zip(rows["text"], rows["drop_reason"], strict=True)]
        if bench is not None:
            rows = decontam.mark_contaminated(rows, bench, cfg.decontam, tokens)
        if counts_extraction(cfg):  # counted per split by `build_tasks`; parsed in parallel here
            rows = blocks.with_extraction_status(rows)
        return dedup.with_signatures(rows, cfg.dedup.shingle_size, cfg.dedup.num_perm, tokens)


def counts_extraction(cfg: PipelineConfig) -> bool:
    """Whether prepare counts files per extraction status: some task extracts functions."""
    from codesweep.tasks.registry import parses_functions

    return parses_functions([task.builder for task in cfg.tasks])


def decontaminate(state: PrepareState) -> None:
    """Mark kept files that contain benchmark items, before dedup (see `steps.PIPELINE`).

    The marking runs inside the read pass (`read_block`); this step reports the benchmark.
    """
    if state.bench is None:
        return
    state.report["decontam"] = {"benchmark_items": len(state.bench.ids),
                                "benchmark_digest": state.bench.digest()}


def exact_dedup(state: PrepareState) -> None:
    """Group kept rows by normalised hash; one per group stays (all rows kept, marked).

    Only a text-free projection is shuffled; a task gathers its marks into lookups kept in
    the object store, which the later passes over the read rows apply (`deduped_rows`), so
    the texts never go through the group-by and the driver gets the group histogram only.
    """
    if not state.config.dedup.exact:
        state.exact_marks = ({}, {})
        return
    keys = mapped_blocks(state.read.to_arrow_refs(), dedup.exact_keys,
                         columns=dedup.EXACT_KEYS, shards=state.partitions)
    lookups, histogram = join_exact_marks.remote(*by_shard(state, keys, dedup.exact_marks))
    state.report["exact_dedup"] = ray.get(histogram)
    state.exact_marks = lookups


def deduped_rows(batch: pd.DataFrame, marks: tuple[dict, dict]) -> pd.DataFrame:
    """The kept rows of a read block with exact dedup's marks (`join_exact_marks`) applied."""
    return dedup.apply_exact_marks(kept_rows(batch), *marks)


# Up to this many listed files, a group-by's text-free keys are grouped in one task: Ray
# Data's shuffle (sample, map, reduce, then a task per group) cost about a second per
# group-by on 2 cores for the standard library. The largest keys are near dedup's band rows,
# each file's signature once per band: about 8 KB per file at 128 permutations (14 bands),
# so 160 MB at the limit. Larger corpora shuffle by `shard`.
GROUP_IN_ONE_TASK_FILES = 20_000


def by_shard(state: PrepareState, keys: list, fn: Any, **kwargs: Any) -> list[ray.ObjectRef]:
    """`fn` over the rows of the blocks `keys` grouped by their `shard`: the object
    references of its results. Every `fn` here is correct on any union of shards (each
    groups by the key the shard is a hash of), so the one-task path calls it once on all
    the rows."""
    listed = sum(source.count for source in state.sources)
    if listed <= GROUP_IN_ONE_TASK_FILES:
        return [all_groups.remote(fn, kwargs, *keys)]
    grouped = ray.data.from_arrow_refs(keys).groupby("shard", num_partitions=state.partitions)
    return grouped.map_groups(fn, batch_format="pandas",
                              fn_kwargs=kwargs or None).materialize().to_arrow_refs()


@ray.remote
def all_groups(fn: Any, kwargs: dict[str, Any], *tables: pa.Table) -> pa.Table:
    """`fn` on the concatenated rows of the tables (see `by_shard`)."""
    filled = [table for table in tables if table.num_rows]
    if not filled:
        return pa.table({})
    result = fn(pa.concat_tables(filled).to_pandas(), **kwargs)
    return pa.Table.from_pandas(result, preserve_index=False)


@ray.remote(num_returns=2)
def join_exact_marks(*tables: pa.Table) -> tuple[tuple[dict, dict], dict[str, Any]]:
    """(uid -> duplicate detail, keeper uid -> group size) from every shard's marks, and
    the group histogram."""
    drops: dict[str, str] = {}
    counts: dict[str, int] = {}
    for table in tables:
        for mark in table.to_pylist():
            if mark["detail"]:
                drops[mark["uid"]] = mark["detail"]
            else:
                counts[mark["uid"]] = int(mark["dup_count"])
    return (drops, counts), cluster_histogram(counts)


def cluster_histogram(counts: dict[str, int]) -> dict[str, Any]:
    """Exact-duplicate groups: how many, and how many groups of each size."""
    histogram = Counter(counts.values())
    return {"clusters": sum(histogram.values()),
            "cluster_sizes": {str(k): v for k, v in sorted(histogram.items())}}


def near_dedup(state: PrepareState) -> None:
    """LSH buckets as a group-by on band keys; a task joins the verified pairs into clusters
    and keeps them in the object store; the driver gets the cluster histogram only."""
    cfg = state.config.dedup
    if not cfg.near:
        return
    params = lsh_params_of.remote(cfg.threshold, cfg.num_perm)
    state.near, histogram = near_clusters_of(state, state.read.to_arrow_refs(),
                                             state.exact_marks)
    state.near_found = bool(histogram)
    n_bands, n_rows = ray.get(params)
    state.report["near_dedup"] = {
        "threshold": cfg.threshold, "num_perm": cfg.num_perm, "bands": n_bands,
        "rows": n_rows, "shingle_size": cfg.shingle_size, "clusters": sum(histogram.values()),
        "cluster_sizes": {str(k): v for k, v in sorted(histogram.items())}}


@ray.remote
def lsh_params_of(threshold: float, num_perm: int) -> tuple[int, int]:
    """`dedup.lsh_params`, in a worker: workers have datasketch (and the SciPy it imports)
    loaded for the signatures, and importing them in the driver for two numbers took
    0.4 s of every `codesweep prepare`."""
    return dedup.lsh_params(threshold, num_perm)


def near_clusters_of(state: PrepareState, refs: list, marks: Any = None
                     ) -> tuple[ray.ObjectRef, dict[int, int]]:
    """The near-duplicate clusters among the kept rows of the blocks `refs` (read rows with
    exact dedup's `marks`, or, without marks, rows already marked) as a reference to
    `dedup.NearClusters`, and their histogram (cluster size -> clusters)."""
    cfg = state.config.dedup
    bands = mapped_blocks(refs, kept_band_rows, columns=BAND_INPUT_COLUMNS, marks=marks,
                          threshold=cfg.threshold, num_perm=cfg.num_perm,
                          size=cfg.shingle_size, shards=state.partitions)
    pairs = by_shard(state, bands, dedup.shard_pairs, threshold=cfg.threshold)
    found, histogram = join_pairs.remote(*pairs)
    return found, ray.get(histogram)


BAND_INPUT_COLUMNS = ["repo", "path", "sig", "drop_reason", "drop_stage", "drop_detail",
                      "dup_count"]


def kept_band_rows(batch: pd.DataFrame, marks: tuple[dict, dict] | None,
                   **params: Any) -> pd.DataFrame:
    """`dedup.band_rows` of the rows of a block that are kept (after `marks`, if any)."""
    rows = batch if marks is None else deduped_rows(batch, marks)
    return dedup.band_rows(kept_rows(rows), **params)


@ray.remote(num_returns=2)
def join_pairs(*tables: pa.Table) -> tuple[dedup.NearClusters, dict[int, int]]:
    """The clusters of the verified pairs of every shard, and their size histogram."""
    found = dedup.near_clusters_of([table.to_pandas() for table in tables])
    return found, dict(Counter(found.sizes.values()))


def mark_and_split(state: PrepareState) -> None:
    """The kept read rows with their dedup marks and splits, a block per read block."""
    refs = mapped_blocks(state.read.to_arrow_refs(), final_rows, marks=state.exact_marks,
                         near=state.near if state.near_found else None,
                         cfg=state.config.split, seed=state.config.seed,
                         repo_splits=state.repo_splits)
    state.final = ray.data.from_arrow_refs(refs)


def final_rows(batch: pd.DataFrame, marks: tuple[dict, dict], near: dedup.NearClusters | None,
               cfg: Any, seed: int, repo_splits: dict[str, str] | None) -> pd.DataFrame:
    """A read block's kept rows, marked by exact and near dedup, with their splits."""
    rows = deduped_rows(batch, marks)
    if near is not None:
        rows = dedup.mark_near_duplicates(rows, near.drops, near.sizes)
    return splits.assign_splits(rows, cfg, seed, repo_splits)


def count(state: PrepareState) -> None:
    """Files per stage and drop reason, per split, and transform counts; the empty check."""
    read_blocks = state.read.to_arrow_refs()
    ledger = ray.get(ledger_of.remote(len(read_blocks), *read_blocks,
                                      *state.final.to_arrow_refs()))
    counts = stage_counts(ledger, listing_drops(state.sources))
    state.report["counts"] = counts
    state.report["transforms"] = {
        "license_header_stripped": int(ledger["header_stripped"].sum()),
        "lines_dropped": int(ledger["lines_dropped"].sum())}
    kept = ledger[ledger["stage"] == "kept"].groupby("split")[["files", "num_bytes"]].sum()
    state.report["splits"] = {
        split: {"files": int(kept["files"].get(split, 0)),
                "bytes": int(kept["num_bytes"].get(split, 0))} for split in SPLITS}
    if counts["kept"] == 0:
        raise CodesweepError(empty_corpus_message(counts))


@ray.remote
def ledger_of(read_blocks: int, *tables: pa.Table) -> pd.DataFrame:
    """Files, bytes and transforms per (stage, reason, split) outcome, from the text-free
    columns of the read rows (the first `read_blocks` tables: only their drops count, the
    rest live on in the split rows) and of the split rows."""
    columns = ["split", "num_bytes", "header_stripped", "lines_dropped", "drop_reason",
               "drop_stage"]
    parts = []
    for number, table in enumerate(tables):
        frame = table.select(columns).to_pandas() if table.num_rows else None
        if frame is not None:
            parts.append(blocks.ledger_summary(
                dropped_rows(frame) if number < read_blocks else frame))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=[*blocks.LEDGER_KEYS, "files", "num_bytes", "header_stripped",
                 "lines_dropped"])


def leakage_check(state: PrepareState) -> None:
    """Prove that no content hash sits in two splits (a guard against dedup bugs)."""
    pairs = mapped_blocks(state.final.to_arrow_refs(), blocks.distinct_sha_split,
                          columns=["sha", "split", "drop_reason"], shards=state.partitions)
    # the leaking hashes alone come back (none when the splits are sound)
    leaks = [row for table in ray.get(by_shard(state, pairs, blocks.leaking_in_shard))
             for row in table.to_pylist()][:5]
    if leaks:
        shown = ", ".join(f"{row['sha'][:12]} in {row['splits']}" for row in leaks)
        raise CodesweepError(f"split leakage check failed: {shown}")
    state.report["leakage_check"] = "passed: no content sha in two splits" + \
        near_leakage(state)


def near_leakage(state: PrepareState) -> str:
    """Near-duplicate pairs across splits: a failure after near dedup, counted without it.

    The pairs and the splits of their files meet in a task; the driver gets the count and
    a description of the first few."""
    near = state.config.dedup.near
    if near:
        found, any_pair = state.near, state.near_found
    else:
        found, histogram = near_clusters_of(state, state.final.to_arrow_refs())
        any_pair = bool(histogram)
    crossing, shown = 0, ""
    if any_pair:
        paired = mapped_blocks(state.final.to_arrow_refs(), paired_rows,
                               columns=["repo", "path", "split", "drop_reason"], near=found)
        crossing, shown = ray.get(pairs_across.remote(found, *paired))
    if crossing and near:
        raise CodesweepError(f"split leakage check failed: near duplicates in two splits: {shown}")
    state.report["near_duplicates_across_splits"] = crossing
    if not crossing:
        return ", no near duplicates across splits"
    return f"; {crossing} near-duplicate pairs across splits (dedup.near is off)"


def paired_rows(batch: pd.DataFrame, near: dedup.NearClusters) -> pd.DataFrame:
    """The rows of a batch named in one of the near-duplicate pairs."""
    return leak_guard.rows_named(batch, {member for pair in near.pairs for member in pair})


@ray.remote
def pairs_across(found: dedup.NearClusters, *tables: pa.Table) -> tuple[int, str]:
    """How many pairs have both files kept in different splits, and the first few."""
    rows = [table.to_pandas() for table in tables]
    splits_by_uid = leak_guard.kept_splits(pd.concat(rows)) if rows else {}
    crossing = leak_guard.pairs_across_splits(found.pairs, splits_by_uid)
    return len(crossing), leak_guard.describe(crossing, splits_by_uid)


def write_outputs(state: PrepareState) -> None:
    """files/<split>/ for each split in sha order (an empty split still gets a readable
    part), and exclusions/: every dropped file with its stage, reason and detail."""
    final_blocks = state.final.to_arrow_refs()
    writes = []
    for split in SPLITS:
        directory = state.staging / "files" / split
        if state.report["splits"][split]["bytes"] > SORTED_SPLIT_BYTES:
            table = state.final.map_batches(blocks.split_rows, batch_format="pyarrow",
                                            batch_size=None, fn_kwargs={"split": split})
            table = table.materialize()
            write_parquet(state, table.sort("sha"), directory, FILES_SCHEMA)
            state.split_sets[split] = table.to_arrow_refs()
        else:
            state.split_sets[split] = split_set(state, split, final_blocks)
            writes.append(write_blocks(state, state.split_sets[split], directory, FILES_SCHEMA))
    tables = exclusions_of.remote(listing_drops(state.sources), *state.read.to_arrow_refs(),
                                  *final_blocks)
    writes.append(write_blocks(state, [tables], state.staging / "exclusions", EXCLUSIONS_SCHEMA))
    finish_writes(writes)


# A split up to SORTED_SPLIT_BYTES of files is gathered and sorted by one task, in pieces of
# about SPLIT_PIECE_BYTES (at most one per CPU) that the task builders then map over. Ray
# Data's distributed sort samples the data, then shuffles it, seconds on 2 cores even for a
# few MB; and a pass over a filter of every materialised block costs a task per block.
# Pieces are small enough that an eval split of a small corpus is cut too: with pieces of
# 2 MiB, the standard library's validation and test splits (0.6 MB each) were one task each,
# building and marking their examples on one core while the other idled (1.4 s of a 11 s
# prepare); a piece costs a task, tens of milliseconds.
SPLIT_PIECE_BYTES = 256 * 2**10
REFERENCE_TEXT_BYTES = 16 * 2**20  # about 3M shingle hashes, 80 MB while they are indexed


def split_set(state: PrepareState, split: str, final_blocks: list) -> list:
    """One split's kept files in sha order, as a few blocks in the object store, so a direct
    loader finds its share of the written split from the Parquet footers and reads only
    those row groups (`train.examples.read_rows`)."""
    pieces = split_pieces(state.report["splits"][split]["bytes"], cluster_cpus())
    refs = split_in_order.options(num_returns=pieces).remote(split, pieces, *final_blocks)
    return [refs] if pieces == 1 else list(refs)


def split_pieces(split_bytes: int, cpus: int) -> int:
    """How many pieces a split of `split_bytes` of files comes in: one per SPLIT_PIECE_BYTES,
    at most one per CPU, at least one."""
    return max(1, min(cpus, -(-split_bytes // SPLIT_PIECE_BYTES)))


@ray.remote
def split_in_order(split: str, pieces: int, *tables: pa.Table) -> pa.Table | tuple:
    """The kept files of `split` among working-row tables, in sha order, in `pieces` runs."""
    rows = blocks.concat_filled([blocks.split_rows(table, split) for table in tables
                                 if table.num_rows], FILES_SCHEMA.empty_table())
    runs = blocks.sorted_pieces(rows, "sha", pieces)
    return runs[0] if pieces == 1 else tuple(runs)


@ray.remote
def exclusions_of(listed: list[dict], *tables: pa.Table) -> pa.Table:
    """Exclusion rows of the dropped working rows of the tables, then of the files the
    listing dropped, read from the text-free columns alone."""
    columns = ["repo", "path", "drop_reason", "drop_stage", "drop_detail"]
    parts = [blocks.exclusion_table(table.select(columns).to_pandas()) for table in tables
             if table.num_rows]
    if listed:
        parts.append(pa.Table.from_pylist(listed, schema=EXCLUSIONS_SCHEMA))
    return pa.concat_tables(parts) if parts else EXCLUSIONS_SCHEMA.empty_table()


@ray.remote
def written_in_order(key: str, *tables: pa.Table) -> pa.Table:
    """The rows of builder output that go to disk (`blocks.written_examples`), in `key`
    order, as one table."""
    written = [pa.Table.from_pandas(blocks.written_examples(table.to_pandas()),
                                    preserve_index=False) for table in tables if table.num_rows]
    rows = blocks.concat_filled(written, tables[0] if tables else pa.table({}))
    return blocks.sorted_pieces(rows, key, 1)[0] if rows.num_rows else rows


def write_parquet(state: PrepareState, ds: ray.data.Dataset, directory: Path,
                  schema: pa.Schema) -> None:
    """Write a dataset as Parquet parts of ROW_GROUP_ROWS-row groups (a direct loader reads
    the groups of its share alone); leave one empty part if it has no rows."""
    ds.write_parquet(str(directory), min_rows_per_file=state.config.execution.min_rows_per_file,
                     row_group_size=ROW_GROUP_ROWS)
    ensure_readable(directory, schema)


# Outputs gathered in a few blocks (every split up to SORTED_SPLIT_BYTES, the exclusions,
# the task examples) are written by a task each, started together: a Ray Data write cost
# 80-90 ms on 2 cores even for one small block, one after another, and the first one in
# a command also started Ray Data's two actors (about 2 s and 245 MiB).
def write_blocks(state: PrepareState, refs: list, directory: Path,
                 schema: pa.Schema) -> tuple[ray.ObjectRef, Path, pa.Schema]:
    """Start writing the blocks `refs`, in order, into `directory` (`parquet_parts`); what
    `finish_writes` waits on."""
    task = parquet_parts.remote(str(directory), state.config.execution.min_rows_per_file,
                                ROW_GROUP_ROWS, *refs)
    return task, directory, schema


def finish_writes(writes: list[tuple[ray.ObjectRef, Path, pa.Schema]]) -> None:
    """Wait for the writes `write_blocks` started; leave one empty part where one wrote no
    rows."""
    ray.get([task for task, _, _ in writes])
    for _, directory, schema in writes:
        ensure_readable(directory, schema)


@ray.remote
def parquet_parts(directory: str, min_rows: int, group_rows: int, *tables: pa.Table) -> int:
    """Write the tables' rows in order as Parquet parts of `group_rows`-row groups, a part
    holding at least `min_rows` rows before the next starts (as Ray Data's
    `min_rows_per_file`), or a table of another schema; the number of parts."""
    os.makedirs(directory, exist_ok=True)
    writer, parts, rows = None, 0, 0
    for table in tables:
        if not table.num_rows:
            continue
        if writer is None or rows >= min_rows or not table.schema.equals(writer.schema):
            if writer is not None:
                writer.close()
            writer = pq.ParquetWriter(f"{directory}/part-{parts:05d}.parquet", table.schema)
            parts, rows = parts + 1, 0
        writer.write_table(table, row_group_size=group_rows)
        rows += table.num_rows
    if writer is not None:
        writer.close()
    return parts


def build_tasks(state: PrepareState) -> None:
    """tasks/<name>/<split>/: each builder over its splits; drops counted, not written.

    One pass over the files gathers the extraction counts and the shingle hashes of the
    files the eval splits are checked against; each (task, split) then builds, marks and
    hashes its examples in one materialised pass, counted and written from there. The
    hashes stay in the object store: tasks build a split's references from them, a block
    each (`EarlierSplits`), and the driver only ever holds object references to them.
    """
    # The read rows and their dedup marks are written by now. Letting them go lets the
    # object store reuse their memory for the examples and references below, instead of
    # touching more (an 8x prepare's peak is in this step).
    state.read = state.exact_marks = state.near = None
    if not state.config.tasks:
        return
    hash_splits = list(SPLITS[:-1]) if state.config.dedup.examples else []
    file_blocks = mapped_blocks(state.final.to_arrow_refs(), blocks.kept_file_facts,
                                hash_splits=hash_splits)
    state.final = None  # the split sets hold the kept files; the facts tasks hold theirs
    if counts_extraction(state.config):
        state.report["extraction"] = ray.get(extraction_summary.remote(*file_blocks))
    file_blocks = file_blocks if hash_splits else []
    report: dict[str, dict[str, Any]] = {}
    for task in state.config.tasks:
        # Run once on no files: bad params fail here, in one line, and we learn the columns.
        empty = blocks.task_table(blocks.run_task_builder(
            pd.DataFrame(columns=FILE_COLUMNS), task.builder, task.params, state.config.seed))
        report[task.output_name] = {}
        earlier = EarlierSplits(file_blocks, {split: state.report["splits"][split]["bytes"]
                                              for split in SPLITS})
        for split in SPLITS:  # train first: it is the reference of the eval splits
            example_blocks: list = []
            if split in task.splits:
                report[task.output_name][split], example_blocks = build_task_split(
                    state, task, split, empty.schema, earlier)
            earlier.add(split, example_blocks)
            if task is state.config.tasks[-1]:  # its files' blocks are free for what follows
                state.split_sets.pop(split, None)
    state.report["tasks"] = report


# Small text-free reductions over materialised blocks run as one task each, reading only
# the columns they need: cheaper than a Ray Data execution, and the driver gets the result.
@ray.remote
def extraction_summary(*tables: pa.Table) -> dict[str, dict[str, int]]:
    """split -> extraction status -> files, from the blocks of `blocks.kept_file_facts`."""
    frames = [table.select(["split", "status"]).to_pandas() for table in tables
              if table.num_rows]
    facts = pd.concat(frames) if frames else pd.DataFrame(columns=["split", "status"])
    counts = facts.groupby(["split", "status"], as_index=False).size()
    return extraction.summarize_status(counts.rename(columns={"size": "files"}))


@ray.remote
def examples_summary(split: str, *tables: pa.Table) -> dict[str, Any]:
    """`tasks.manifest.summarize` of one split's examples, from their materialised blocks."""
    from codesweep.tasks.manifest import PROJECTION_COLUMNS, summarize

    wanted = [*PROJECTION_COLUMNS, "note"]
    frames = [blocks.task_projection(table.select(
        [name for name in wanted if name in table.column_names]).to_pandas())
        for table in tables if table.num_rows]
    summary = summarize(pd.concat(frames)).get(split) if frames else None
    return summary or {"examples": 0, "dropped": {}}


class EarlierSplits:
    """The leakage references an eval split's examples are checked against: those of each
    split built before it, made of that split's files' facts (`blocks.kept_file_facts`
    blocks, the units of the files) and kept examples.

    Each reference holds the units of one example block, or of a run of one file block's
    rows covering about REFERENCE_TEXT_BYTES of the split's text; its index is built by its
    own task. Checking a text against them one by one gives what one reference of all
    their units would (`leakage.mark_cross_split`), and the indexes are built in parallel,
    each small: one index of the whole train split held about 40 bytes per hash in one
    worker (0.6-0.7 GB of an 8x prepare's 3.0-3.3 GB peak), built on one core; one of half
    its files, 0.3-0.4 GB. Later splits reuse the references of earlier ones.
    """

    def __init__(self, file_blocks: list, split_bytes: dict[str, int]) -> None:
        self.file_blocks = file_blocks
        self.split_bytes = split_bytes
        self.splits: list[tuple[str, list]] = []  # (split, its example blocks), in order
        self._references: list[list[StoredReference]] = []  # per split in `splits`

    def add(self, split: str, example_blocks: list) -> None:
        """`split` is built: its files and `example_blocks` are units of later splits."""
        self.splits.append((split, example_blocks))

    def references(self) -> list[StoredReference]:
        """The references of the splits so far (their indexes built on first use)."""
        for split, example_blocks in self.splits[len(self._references):]:
            per_block = self.split_bytes[split] // max(1, len(self.file_blocks))
            runs = max(1, -(-per_block // REFERENCE_TEXT_BYTES))
            self._references.append(
                [StoredReference.of(split, block, (run, runs))
                 for block in self.file_blocks for run in range(runs)]
                + [StoredReference.of(split, block, (0, 1)) for block in example_blocks])
        return [reference for split in self._references for reference in split]


@dataclass(frozen=True)
class StoredReference:
    """A leakage reference in the object store: the index `build_reference` made, and the
    block whose units it indexes, read back as views (`reference`) rather than stored
    twice. Keeping only the index there took 8 bytes per hash off the references, the
    largest objects of an 8x prepare's task step (train's hold every train file's hashes)."""

    postings: ray.ObjectRef
    split: str
    block: ray.ObjectRef
    run: tuple[int, int]  # (k, n): the k-th of n runs of the block's rows

    @classmethod
    def of(cls, split: str, block: ray.ObjectRef, run: tuple[int, int]) -> StoredReference:
        """Start indexing the units of `split` in `run` of the block's rows."""
        return cls(build_reference.remote(split, run, block), split, block, run)

    def reference(self) -> leakage.Reference:
        """The reference, in a task: its index and its units, both in the object store."""
        postings = ray.get(self.postings)
        return leakage.Reference(run_units(ray.get(self.block), self.split, self.run),
                                 postings)


def run_units(table: pa.Table, split: str, run: tuple[int, int]) -> list[np.ndarray]:
    """The units of `split` in `run` of the block's rows, in the order its index numbers
    them (see `blocks.reference_units`)."""
    number, runs = run
    start = table.num_rows * number // runs
    rows = table.slice(start, table.num_rows * (number + 1) // runs - start)
    return blocks.reference_units(rows, [split])


@ray.remote
def build_reference(split: str, run: tuple[int, int], table: pa.Table) -> leakage.Postings:
    """The index of the units of `split` in `run` of the block's rows."""
    postings = leakage.postings_of(run_units(table, split, run))
    del table
    blocks.return_memory()
    return postings


def mapped_blocks(refs: list, fn: Any, placement: dict[str, Any] | None = None,
                  columns: list[str] | None = None, **kwargs: Any) -> list:
    """`fn` over each block (pandas in, pandas or Arrow out) as a plain task per block, all
    started at once, with the task options `placement` (say, `where_sources_are`); `fn`
    sees only `columns` where given (the others are never converted to Python); keyword
    arguments that are object references reach `fn` as their values.

    Every pass over blocks runs this way, not on Ray Data: a Ray Data execution of a map
    over a few blocks cost 150-190 ms on 2 cores (planning, its executor and its statistics
    actor), plain tasks 26-38 ms, and the passes between the read and the task step were
    about 1.7 s of a 8.5 s prepare of the standard library. Ray Data's executor
    ramps up to the task slots: it ran the four blocks of each task-step pass one after
    another, about 1.5 s of one busy worker in the standard library's prepare, and the read
    pass's first wave waited on it too."""
    task = mapped_block.options(**placement) if placement else mapped_block
    ready = [stored.postings for value in kwargs.values() if isinstance(value, list)
             for stored in value if isinstance(stored, StoredReference)]
    return [task.remote(fn, kwargs, columns, ref, *ready) for ref in refs]


@ray.remote
def mapped_block(fn: Any, kwargs: dict[str, Any], columns: list[str] | None, table: pa.Table,
                 *ready: Any) -> pa.Table:
    """One block of `mapped_blocks`; a block without columns (a builder's output on no
    files) stays as it is, one with columns but no rows goes through `fn` like any other,
    so every block of a pass has its columns (a shuffle by `shard` needs them). The indexes of
    stored references come as arguments (`ready`) only so that Ray starts the task once
    they are built: a task waiting in `ray.get` lends its CPU to the next, which starts
    one more worker, and early marking tasks held two extra workers at an 8x prepare's
    peak while the indexes were built."""
    if not table.num_columns:
        return table
    values = {name: _value(value) for name, value in kwargs.items()}
    result = fn((table if columns is None else table.select(columns)).to_pandas(), **values)
    del table, values, ready
    result = result if isinstance(result, pa.Table) else pa.Table.from_pandas(
        result, preserve_index=False)
    blocks.return_memory()
    return result


@dataclass(frozen=True)
class WorkerCached:
    """An argument of every task of a pass that each worker deserialises once, for its
    later tasks too: the benchmark index took 45 ms to unpickle (1.3 MB, 25k n-grams for
    HumanEval) in each of the read pass's tasks, 0.6 CPU-seconds of a 12 s prepare of the
    standard library. A worker keeps one such value, the last it was given."""

    ref: ray.ObjectRef

    def value(self) -> Any:
        """The object, from this worker's copy when it has one."""
        key = self.ref.hex()
        if _WORKER_CACHE.get("key") != key:
            _WORKER_CACHE.clear()  # the previous one first: never two in memory at once
            _WORKER_CACHE.update(key=key, value=ray.get(self.ref))
        return _WORKER_CACHE["value"]


_WORKER_CACHE: dict[str, Any] = {}  # a worker's `WorkerCached` value and its object's id


def _value(argument: Any) -> Any:
    """A keyword argument of `mapped_block` as `fn` takes it: an object reference, or a
    list of them, fetched; a `WorkerCached` one from the worker's copy; stored leakage
    references read back."""
    if isinstance(argument, ray.ObjectRef):
        return ray.get(argument)
    if isinstance(argument, WorkerCached):
        return argument.value()
    if isinstance(argument, list) and argument and isinstance(argument[0], ray.ObjectRef):
        return ray.get(argument)
    if isinstance(argument, list) and argument and isinstance(argument[0], StoredReference):
        return [stored.reference() for stored in argument]
    return argument


def build_task_split(state: PrepareState, task: TaskConfig, split: str,
                     schema: pa.Schema, earlier: EarlierSplits) -> tuple[dict[str, Any], list]:
    """One task on one split: build the examples, drop eval copies of earlier splits' files
    and examples (`tasks.leakage`) and hash the rest, in one materialised pass; count
    (text-free projection, in a task) and write the kept rows from it. The summary, and the
    example blocks (for the references of later splits; none without example dedup)."""
    cfg = state.config.dedup
    references = earlier.references() if cfg.examples else []
    example_blocks = mapped_blocks(
        state.split_sets[split], blocks.task_examples, builder=task.builder, params=task.params,
        seed=state.config.seed, references=references, min_containment=cfg.example_containment,
        tail_chars=cfg.example_tail_chars, with_hashes=cfg.examples)
    summary = examples_summary.remote(split, *example_blocks)
    directory = state.staging / "tasks" / task.output_name / split
    if state.report["splits"][split]["bytes"] > SORTED_SPLIT_BYTES:
        examples = ray.data.from_arrow_refs(example_blocks)
        written = pandas_map(examples, blocks.written_examples).sort("id")
        write_parquet(state, written, directory, schema)
    else:
        finish_writes([write_blocks(state, [written_in_order.remote("id", *example_blocks)],
                                    directory, schema)])
    return ray.get(summary), example_blocks if cfg.examples else []


def listing_drops(sources: list[ResolvedSource]) -> list[dict]:
    """Exclusion rows of the files the sources' listing already dropped."""
    return [row for source in sources for row in source.dropped]


def no_files_message(sources: list[ResolvedSource]) -> str:
    """Why nothing was listed: the sources, their roots and what their listing dropped."""
    parts = [f"{s.name} ({s.root}): {len(s.dropped)} unusable" for s in sources]
    return "no files matched the include globs and languages in any source: " + "; ".join(parts)


def stage_counts(ledger: pd.DataFrame, listing_drops: list[dict]) -> dict[str, Any]:
    """Per stage in pipeline order: files in, dropped per reason, files out."""
    dropped: dict[str, Counter[str]] = {stage: Counter() for stage in DROP_STAGES}
    for row in listing_drops:
        dropped["source"][row["reason"]] += 1
    for row in ledger[ledger["stage"] != "kept"].itertuples():
        dropped[row.stage][row.reason] += int(row.files)
    listed = len(listing_drops) + int(ledger["files"].sum())
    stages, remaining = {}, listed
    for stage in DROP_STAGES:
        total = sum(dropped[stage].values())
        stages[stage] = {"in": remaining, "dropped": dict(sorted(dropped[stage].items())),
                         "out": remaining - total}
        remaining -= total
    return {"listed": listed, "kept": remaining, "stages": stages}


def empty_corpus_message(counts: dict[str, Any]) -> str:
    """One line: nothing survived, and the biggest reasons why."""
    reasons: Counter[str] = Counter()
    for stage in counts["stages"].values():
        reasons.update(stage["dropped"])
    top = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common(5))
    return (f"no files left after filtering: {counts['listed']} listed, all dropped ({top}); "
            "loosen the filters: section or check the sources' include globs")
