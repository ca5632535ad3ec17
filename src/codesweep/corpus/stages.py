"""The Ray Data graph of `prepare`, one method per stage, in pipeline order.

Materialisation points are chosen so no stage re-reads the sources: after read & filter
(used for counts, exclusions and dedup), after exact dedup (used for LSH bands and marking),
and after splitting (used for the writes, checks and task builders).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import ray
import ray.data
from ray.data.context import ShuffleStrategy

from codesweep.config.pipeline import SPLITS, PipelineConfig, TaskConfig
from codesweep.corpus import decontam, dedup, filters, leak_guard, repo_split, splits, steps
from codesweep.corpus.output import ensure_readable
from codesweep.corpus.schema import EXCLUSIONS_SCHEMA, FILE_COLUMNS, FILES_SCHEMA
from codesweep.corpus.sources import ResolvedSource
from codesweep.errors import CodesweepError
from codesweep.tasks import extraction, leakage

# Decontamination runs before dedup: a contaminated file must not be a cluster's representative
# (its clean twin would already be dropped as its duplicate, leaving no copy).
STAGE_ORDER = ["source", "filter", "decontam", "exact_dedup", "near_dedup"]


@contextmanager
def ray_data_settings() -> Iterator[None]:
    """Ray Data settings for this stage, restored afterwards (later stages share the process).

    Our progress lines replace Ray Data's bars and log lines. The group-bys shuffle little
    data (hashes, band keys); the task-based sort shuffle runs them in about a second where
    the actor-based hash shuffle spends many seconds starting its aggregators on 2 cores.
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
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(ctx, name, value)
        logger.setLevel(saved_level)


def default_partitions() -> int:
    """Shuffle partitions: a couple per CPU (Ray's default of 200 is slow on a laptop)."""
    return max(2, min(64, 2 * int(ray.cluster_resources().get("CPU", 2))))


def pandas_map(ds: ray.data.Dataset, fn, **kwargs: Any) -> ray.data.Dataset:
    """map_batches over whole blocks in pandas format, the shape of every step here."""
    return ds.map_batches(fn, batch_format="pandas", batch_size=None, fn_kwargs=kwargs or None)


class Run:
    """One execution of the pipeline into a staging directory."""

    def __init__(self, config: PipelineConfig, sources: list[ResolvedSource],
                 bench: decontam.BenchmarkIndex | None, staging: Path, timer) -> None:
        self.config, self.sources, self.bench = config, sources, bench
        self.staging, self.timer = staging, timer
        self.partitions = config.dedup.partitions or default_partitions()
        self.report: dict[str, Any] = {}
        self.near_pairs: list[tuple[str, str]] = []
        self.repo_splits = repo_split.repo_assignment(sources, config.split, config.seed)

    def execute(self) -> dict[str, Any]:
        """Run the stages; return the manifest sections (counts, dedup, splits, tasks)."""
        with self.timer("read & filter"):
            read = self.read_and_filter()
        with self.timer("exact dedup"):
            deduped = self.exact_dedup(read)
        with self.timer("near dedup"):
            drops, sizes = self.near_duplicates(deduped)
        with self.timer("decontaminate & split"):
            final = self.mark_and_split(deduped, drops, sizes)
        with self.timer("count"):
            self.count(read, final)
        with self.timer("leakage check"):
            self.check_leakage(final)
        with self.timer("write"):
            split_sets = self.write_files(final)
            self.write_exclusions(read, final)
        with self.timer("tasks"):
            self.build_tasks(split_sets)
        return self.report

    def read_and_filter(self) -> ray.data.Dataset:
        """Listed files -> one working row each, read, checked and decontaminated in parallel."""
        listing = [{**row, "revision": source.revision}
                   for source in self.sources for row in source.files]
        if not listing:
            raise CodesweepError(no_files_message(self.sources))
        per_batch = self.config.execution.files_per_batch
        blocks = max(1, -(-len(listing) // per_batch))
        ds = ray.data.from_items(listing, override_num_blocks=blocks)
        read = pandas_map(ds, filters.process_batch, cfg=self.config.filters)
        if self.bench is not None:
            self.report["decontam"] = {"benchmark_items": len(self.bench.ids),
                                       "benchmark_digest": self.bench.digest()}
            read = pandas_map(read, decontam.mark_contaminated, bench=self.bench,
                              cfg=self.config.decontam)
        return read.materialize()

    def exact_dedup(self, read: ray.data.Dataset) -> ray.data.Dataset:
        """Group kept rows by normalised hash; one per group stays (all rows kept, marked)."""
        kept = pandas_map(read, steps.kept_rows)
        if self.config.dedup.exact:
            sharded = pandas_map(kept, steps.with_hash_shard, column="norm_hash",
                                 shards=self.partitions)
            kept = sharded.groupby("shard", num_partitions=self.partitions).map_groups(
                dedup.keep_first_per_hash, batch_format="pandas")
        kept = kept.materialize()
        if self.config.dedup.exact:
            self.report["exact_dedup"] = self.cluster_histogram(kept)
        return kept

    def cluster_histogram(self, deduped: ray.data.Dataset) -> dict[str, Any]:
        """Exact-duplicate groups: how many, and how many groups of each size."""
        histogram: Counter[int] = Counter()
        for row in pandas_map(deduped, steps.dup_count_histogram).take_all():
            histogram[int(row["dup_count"])] += int(row["files"])
        return {"clusters": sum(histogram.values()),
                "cluster_sizes": {str(k): v for k, v in sorted(histogram.items())}}

    def near_duplicates(self, deduped: ray.data.Dataset) -> tuple[dict, dict]:
        """LSH buckets as a group-by on band keys; verified pairs come back, clusters form here."""
        cfg = self.config.dedup
        if not cfg.near:
            return {}, {}
        self.near_pairs = self.verified_pairs(deduped)
        clusters = dedup.clusters_from_pairs(self.near_pairs)
        drops, sizes = dedup.near_drop_details(clusters)
        n_bands, n_rows = dedup.lsh_params(cfg.threshold, cfg.num_perm)
        histogram = Counter(len(members) for members in clusters.values())
        self.report["near_dedup"] = {
            "threshold": cfg.threshold, "num_perm": cfg.num_perm, "bands": n_bands,
            "rows": n_rows, "shingle_size": cfg.shingle_size, "clusters": len(clusters),
            "cluster_sizes": {str(k): v for k, v in sorted(histogram.items())}}
        return drops, sizes

    def verified_pairs(self, ds: ray.data.Dataset) -> list[tuple[str, str]]:
        """MinHash-verified similar pairs (uid a < uid b) among the kept rows of `ds`."""
        cfg = self.config.dedup
        texts = pandas_map(ds, steps.kept_rows).select_columns(["repo", "path", "text"])
        bands = pandas_map(texts, dedup.band_rows, threshold=cfg.threshold,
                           num_perm=cfg.num_perm, size=cfg.shingle_size, shards=self.partitions)
        grouped = bands.groupby("shard", num_partitions=self.partitions)
        pairs = grouped.map_groups(dedup.shard_pairs, batch_format="pandas",
                                   fn_kwargs={"threshold": cfg.threshold}).take_all()
        return sorted({(p["a"], p["b"]) for p in pairs})

    def mark_and_split(self, deduped: ray.data.Dataset, drops: dict, sizes: dict):
        """Mark near duplicates, assign splits; materialised."""
        ds = deduped
        if drops or sizes:
            ds = pandas_map(ds, dedup.mark_near_duplicates, drops=drops, sizes=sizes)
        return pandas_map(ds, splits.assign_splits, cfg=self.config.split,
                          seed=self.config.seed, repo_splits=self.repo_splits).materialize()

    def count(self, read: ray.data.Dataset, final: ray.data.Dataset) -> None:
        """Files per stage and drop reason, per split, and transform counts; the empty check."""
        dropped_early = pandas_map(pandas_map(read, steps.dropped_rows), steps.ledger_summary)
        parts = dropped_early.take_all() + pandas_map(final, steps.ledger_summary).take_all()
        ledger = pd.DataFrame(parts, columns=[*steps.LEDGER_KEYS, "files", "num_bytes",
                                              "header_stripped", "lines_dropped"])
        listing_drops = [row for source in self.sources for row in source.dropped]
        counts = stage_counts(ledger, listing_drops)
        self.report["counts"] = counts
        self.report["transforms"] = {
            "license_header_stripped": int(ledger["header_stripped"].sum()),
            "lines_dropped": int(ledger["lines_dropped"].sum())}
        kept = ledger[ledger["stage"] == "kept"].groupby("split")[["files", "num_bytes"]].sum()
        self.report["splits"] = {
            split: {"files": int(kept["files"].get(split, 0)),
                    "bytes": int(kept["num_bytes"].get(split, 0))} for split in SPLITS}
        if counts["kept"] == 0:
            raise CodesweepError(empty_corpus_message(counts))

    def check_leakage(self, final: ray.data.Dataset) -> None:
        """Prove that no content hash sits in two splits (a guard against dedup bugs)."""
        pairs = pandas_map(final, steps.distinct_sha_split, shards=self.partitions)
        leaks = pairs.groupby("shard", num_partitions=self.partitions).map_groups(
            steps.leaking_in_shard, batch_format="pandas").take(5)
        if leaks:
            shown = ", ".join(f"{row['sha'][:12]} in {row['splits']}" for row in leaks)
            raise CodesweepError(f"split leakage check failed: {shown}")
        self.report["leakage_check"] = "passed: no content sha in two splits" + \
            self.check_near_leakage(final)

    def check_near_leakage(self, final: ray.data.Dataset) -> str:
        """Near-duplicate pairs across splits: a failure after near dedup, counted without it."""
        where = final.select_columns(["repo", "path", "split", "drop_reason"]).to_pandas()
        split_by_uid = leak_guard.kept_splits(where)
        pairs = self.near_pairs if self.config.dedup.near else self.verified_pairs(final)
        crossing = leak_guard.pairs_across_splits(pairs, split_by_uid)
        if crossing and self.config.dedup.near:
            raise CodesweepError("split leakage check failed: near duplicates in two splits: "
                                 + leak_guard.describe(crossing, split_by_uid))
        self.report["near_duplicates_across_splits"] = len(crossing)
        return ", no near duplicates across splits" if not crossing else \
            f"; {len(crossing)} near-duplicate pairs across splits (dedup.near is off)"
    def write_files(self, final: ray.data.Dataset) -> dict[str, ray.data.Dataset]:
        """files/<split>/ for each split (an empty split still gets a readable part)."""
        split_sets = {}
        for split in SPLITS:
            table = final.map_batches(steps.split_table, batch_format="pandas", batch_size=None,
                                      fn_kwargs={"split": split}).materialize()
            self.write(table, self.staging / "files" / split, FILES_SCHEMA)
            split_sets[split] = table
        return split_sets

    def write_exclusions(self, read: ray.data.Dataset, final: ray.data.Dataset) -> None:
        """exclusions/: every dropped file with its stage, reason and detail."""
        parts = [read.map_batches(steps.exclusion_table, batch_format="pandas", batch_size=None),
                 final.map_batches(steps.exclusion_table, batch_format="pandas", batch_size=None)]
        listing_drops = [row for source in self.sources for row in source.dropped]
        if listing_drops:
            table = pa.Table.from_pylist(listing_drops, schema=EXCLUSIONS_SCHEMA)
            parts.append(ray.data.from_arrow(table))
        self.write(parts[0].union(*parts[1:]), self.staging / "exclusions", EXCLUSIONS_SCHEMA)

    def write(self, ds: ray.data.Dataset, directory: Path, schema: pa.Schema) -> None:
        """Write a dataset as Parquet parts; leave one empty part if it has no rows."""
        ds.write_parquet(str(directory), min_rows_per_file=self.config.execution.min_rows_per_file)
        ensure_readable(directory, schema)

    def build_tasks(self, split_sets: dict[str, ray.data.Dataset]) -> None:
        """tasks/<name>/<split>/: each builder over its splits; drops counted, not written."""
        if self.config.tasks:
            counts = [pandas_map(split_sets[split], extraction.status_counts).to_pandas()
                      for split in SPLITS]
            self.report["extraction"] = extraction.summarize_status(pd.concat(counts))
        report = {}
        for task in self.config.tasks:
            # Run once on no files: bad params fail here, in one line, and we learn the columns.
            empty = steps.task_table(steps.run_task_builder(
                pd.DataFrame(columns=FILE_COLUMNS), task.builder, task.params, self.config.seed))
            report[task.output_name] = {}
            earlier: list = []  # shingle hashes of the splits before this one (tasks.leakage)
            for split in SPLITS:  # train first: it is the reference of the eval splits
                if split in task.splits:
                    report[task.output_name][split] = self.build_task_split(
                        task, split, split_sets[split], empty.schema, earlier)
                if self.config.dedup.examples:
                    earlier.append(self.shingles(split_sets[split], leakage.file_shingles))
        self.report["tasks"] = report

    def shingles(self, ds: ray.data.Dataset, step, **kwargs: Any):
        """The distinct shingle hashes a tasks.leakage step finds in a dataset, as one array."""
        frame = pandas_map(ds, step, **kwargs).to_pandas()
        if "hash" not in frame.columns:  # a dataset with no rows has no columns either
            return leakage.reference_of([])
        return leakage.reference_of([frame["hash"].to_numpy(dtype="uint64")])

    def build_task_split(self, task: TaskConfig, split: str, files: ray.data.Dataset,
                         schema: pa.Schema, earlier: list) -> dict[str, Any]:
        """One task on one split: materialise, drop eval copies of earlier splits' examples,
        count (text-free projection), write kept rows."""
        from codesweep.tasks.manifest import summarize

        examples = pandas_map(files, steps.task_batch, builder=task.builder,
                              params=task.params, seed=self.config.seed).materialize()
        dedup_cfg = self.config.dedup
        if dedup_cfg.examples and earlier:
            examples = pandas_map(
                examples, leakage.mark_cross_split, reference=leakage.reference_of(earlier),
                min_containment=dedup_cfg.example_containment,
                tail_chars=dedup_cfg.example_tail_chars).materialize()
        if dedup_cfg.examples:
            earlier.append(self.shingles(examples, leakage.example_shingles,
                                         tail_chars=dedup_cfg.example_tail_chars))
        projection = pandas_map(examples, steps.task_projection).to_pandas()
        directory = self.staging / "tasks" / task.output_name / split
        self.write(pandas_map(examples, steps.kept_examples), directory, schema)
        summary = summarize(projection).get(split) if len(projection) else None
        return summary or {"examples": 0, "dropped": {}}

def no_files_message(sources: list[ResolvedSource]) -> str:
    """Why nothing was listed: the sources, their roots and what their listing dropped."""
    parts = [f"{s.name} ({s.root}): {len(s.dropped)} unusable" for s in sources]
    return "no files matched the include globs and languages in any source: " + "; ".join(parts)


def stage_counts(ledger: pd.DataFrame, listing_drops: list[dict]) -> dict[str, Any]:
    """Per stage in pipeline order: files in, dropped per reason, files out."""
    dropped = {stage: Counter() for stage in STAGE_ORDER}
    for row in listing_drops:
        dropped["source"][row["reason"]] += 1
    for row in ledger[ledger["stage"] != "kept"].itertuples():
        dropped[row.stage][row.reason] += int(row.files)
    listed = len(listing_drops) + int(ledger["files"].sum())
    stages, remaining = {}, listed
    for stage in STAGE_ORDER:
        total = sum(dropped[stage].values())
        stages[stage] = {"in": remaining, "dropped": dict(sorted(dropped[stage].items())),
                         "out": remaining - total}
        remaining -= total
    return {"listed": listed, "kept": remaining, "stages": stages}


def empty_corpus_message(counts: dict[str, Any]) -> str:
    """One line: nothing survived, and the biggest reasons why."""
    reasons = Counter()
    for stage in counts["stages"].values():
        reasons.update(stage["dropped"])
    top = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common(5))
    return (f"no files left after filtering: {counts['listed']} listed, all dropped ({top}); "
            "loosen the filters: section or check the sources' include globs")
