"""The functions the prepare steps have Ray Data map over whole blocks (pandas in, pandas or
Arrow out), kept free of Ray imports so they test in-process."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from codesweep.corpus.schema import EXCLUSIONS_SCHEMA, FILE_COLUMNS, FILES_SCHEMA
from codesweep.drops import KEPT


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one block's work.

    A block's work makes millions of small objects (code-word lists, shingle strings, AST
    nodes) that hold no cycles, so reference counting frees them; while they are alive,
    each collection the allocations trigger scans them all again. Measured on the read
    pass over the standard library: 10.8 s with the collector paused against 11.9-13.3 s,
    most of it in parsing (`bench/prepare_throughput.py` shows the step).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def return_memory() -> None:
    """Give a worker's freed heap back to the system after a block's work.

    Ray keeps a worker process for the next task, and the allocators keep what a task
    freed for the next one: glibc's arenas and Arrow's mimalloc pool. In an 8x prepare the
    workers beside the largest task held 180-240 MB of private memory each (an idle one
    about 105), and returning it took about 0.2 GB off the process tree's peak
    (`bench/prepare_throughput.py` prints it).

    No `gc.collect()` here: after every block of a prepare of the standard library it
    found nothing to free, and a full collection over a worker's ~160k live objects took
    0.12-0.2 s, 3.7 CPU-seconds of the 27 the workers spent. Cycles a block does leave are
    young, and the collector, running again after `collector_paused`, takes them at once.
    """
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc() -> Any:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    library = ctypes.CDLL(name) if name else None
    return library if library is not None and hasattr(library, "malloc_trim") else None


_LIBC = _glibc()  # None where the C library has no malloc_trim (musl, macOS)


def sorted_pieces(table: pa.Table, key: str, pieces: int) -> list[pa.Table]:
    """A table's rows in `key` order, cut into `pieces` contiguous runs of near-equal size.

    Each run is taken into a table of its own: a slice would still carry (and serialise)
    the buffers of the whole table."""
    order = pc.sort_indices(table, [(key, "ascending")])
    bounds = [table.num_rows * number // pieces for number in range(pieces + 1)]
    return [table.take(order[start:end]) for start, end in zip(bounds, bounds[1:], strict=False)]


def concat_filled(tables: list[pa.Table], empty: pa.Table) -> pa.Table:
    """The tables with rows, concatenated; `empty` when none has rows. Tables with no rows
    may have no columns either (a builder's output on no files), so they are left out."""
    filled = [table for table in tables if table.num_rows]
    return pa.concat_tables(filled) if filled else empty


def split_rows(table: pa.Table, split: str) -> pa.Table:
    """The kept rows of one split of a working-row table, with the documented files schema."""
    wanted = pc.and_(pc.equal(table["drop_reason"], KEPT), pc.equal(table["split"], split))
    return table.filter(wanted).select(FILE_COLUMNS).cast(FILES_SCHEMA)


def exclusion_table(batch: pd.DataFrame) -> pa.Table:
    """Dropped working rows as exclusion rows (repo, path, reason, stage, detail)."""
    rows = batch[batch["drop_reason"] != KEPT]
    frame = pd.DataFrame({"repo": rows["repo"], "path": rows["path"],
                          "reason": rows["drop_reason"], "stage": rows["drop_stage"],
                          "detail": rows["drop_detail"]})
    return pa.Table.from_pandas(frame, schema=EXCLUSIONS_SCHEMA, preserve_index=False)


def ledger_rows(batch: pd.DataFrame) -> pd.DataFrame:
    """A text-free projection for counting: outcome (stage, reason, split) and sizes."""
    return pd.DataFrame({
        "stage": batch["drop_stage"].where(batch["drop_reason"] != KEPT, "kept"),
        "reason": batch["drop_reason"], "split": batch["split"],
        "num_bytes": batch["num_bytes"].astype("int64"),
        "header_stripped": batch["header_stripped"].astype("int64"),
        "lines_dropped": batch["lines_dropped"].astype("int64"),
    })


def run_task_builder(batch: pd.DataFrame, builder: str, params: dict[str, Any],
                     seed: int) -> pd.DataFrame:
    """Apply a registered task builder to a batch of prepared files."""
    from codesweep.tasks.registry import get_builder

    return get_builder(builder)(batch, params, seed)


def dup_count_histogram(batch: pd.DataFrame) -> pd.DataFrame:
    """Per block: how many kept files stand for 2, 3, ... copies (summed by the driver)."""
    kept = batch[(batch["drop_reason"] == KEPT) & (batch["dup_count"] > 1)]
    counts = kept["dup_count"].value_counts()
    return pd.DataFrame({"dup_count": counts.index.astype("int64"),
                         "files": counts.to_numpy(dtype="int64")})


LEDGER_KEYS = ["stage", "reason", "split"]


def ledger_summary(batch: pd.DataFrame) -> pd.DataFrame:
    """Per block: files, bytes and transform counts per (stage, reason, split) outcome.

    Aggregating per block and summing the small results in the driver avoids a shuffle.
    """
    rows = ledger_rows(batch)
    grouped = rows.groupby(LEDGER_KEYS, as_index=False).agg(
        files=("num_bytes", "size"), num_bytes=("num_bytes", "sum"),
        header_stripped=("header_stripped", "sum"), lines_dropped=("lines_dropped", "sum"))
    return grouped.astype({"files": "int64", "num_bytes": "int64",
                           "header_stripped": "int64", "lines_dropped": "int64"})


def distinct_sha_split(batch: pd.DataFrame, shards: int) -> pd.DataFrame:
    """(sha, split, shard) of kept rows, deduplicated within the block, for the leakage check."""
    kept = batch.loc[batch["drop_reason"] == KEPT, ["sha", "split"]].drop_duplicates()
    return with_hash_shard(kept, "sha", shards)


def task_table(frame: pd.DataFrame) -> pa.Table:
    """A builder's DataFrame as Arrow; columns with no typed value yet become strings."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
              for f in table.schema]
    return table.cast(pa.schema(fields))


def task_batch(batch: pd.DataFrame, builder: str, params: dict[str, Any], seed: int) -> pa.Table:
    """The Ray Data task step: a builder over a batch of files, as an Arrow table."""
    return task_table(run_task_builder(batch, builder, params, seed))


# Builder output's helper column: the leak-text shingle hashes of each kept example (bytes;
# empty for dropped rows), computed with the examples and never written.
LEAK_HASHES = "_leak_hashes"


def task_examples(batch: pd.DataFrame, builder: str, params: dict[str, Any], seed: int,
                  references: list, min_containment: float, tail_chars: int,
                  with_hashes: bool) -> pa.Table:
    """The task step in one pass per block: build the examples, drop those an earlier
    split's file or example contains (`references`, `leakage.Reference`s of the earlier
    splits' units), and add `LEAK_HASHES` when later splits will need them (`with_hashes`)."""
    from codesweep.tasks import leakage

    examples = run_task_builder(batch, builder, params, seed)
    if references:
        examples = leakage.mark_cross_split(examples, references, min_containment, tail_chars)
    if with_hashes:
        examples = examples.reset_index(drop=True)
        kept = examples["drop_reason"] == KEPT if "drop_reason" in examples.columns \
            else pd.Series(True, index=examples.index)
        texts = leakage.leak_texts(examples, tail_chars) if len(examples) else []
        examples[LEAK_HASHES] = pd.Series(
            [leakage.shingle_hashes(text).tobytes() if keep else b""
             for text, keep in zip(texts, kept, strict=True)], index=examples.index, dtype=object)
    return task_table(examples)


def reference_units(table: pa.Table, splits: list[str]) -> list[np.ndarray]:
    """The leakage-reference units a block holds: the shingle hashes of the files of
    `splits` (a `kept_file_facts` block) or of the kept examples (a `task_examples` block),
    as views onto the block's buffers (`leakage.hash_views`)."""
    from codesweep.tasks import leakage

    names = table.column_names
    if LEAK_HASHES in names:
        keep = pc.equal(table["drop_reason"], KEPT) if "drop_reason" in names else None
        column = table[LEAK_HASHES]
    elif "hashes" in names:
        keep, column = pc.is_in(table["split"], pa.array(splits, pa.string())), table["hashes"]
    else:
        return []
    return leakage.hash_views(column, None if keep is None else
                              pc.fill_null(keep, False).to_numpy(zero_copy_only=False))


def written_examples(batch: pd.DataFrame) -> pd.DataFrame:
    """The rows and columns of builder output that go to disk: kept rows, no helper column."""
    return kept_examples(batch).drop(columns=[LEAK_HASHES], errors="ignore")


def kept_file_facts(batch: pd.DataFrame, hash_splits: list[str]) -> pd.DataFrame:
    """Per kept file: its split, extraction status and, in `hash_splits`, the shingle hashes
    of its text (the files' part of later splits' leakage reference), in one pass."""
    from codesweep.tasks import leakage

    kept = batch[batch["drop_reason"] == KEPT]
    hashes = [leakage.shingle_hashes(str(text)).tobytes() if split in hash_splits else b""
              for text, split in zip(kept["text"], kept["split"], strict=True)]
    status = kept["extraction"] if "extraction" in kept.columns else pd.Series("", kept.index)
    return pd.DataFrame({"split": kept["split"].astype(str).to_numpy(),
                         "status": status.astype(str).to_numpy(),
                         "hashes": pd.Series(hashes, dtype=object).to_numpy()},
                        columns=["split", "status", "hashes"])


def task_projection(batch: pd.DataFrame) -> pd.DataFrame:
    """The text-free counting columns of builder output (tasks.manifest convention).

    Builders that predate the convention (no drop_reason / token columns) count as all kept.
    """
    from codesweep.tasks.manifest import PROJECTION_COLUMNS, count_projection

    frame = batch.copy()
    defaults = {"drop_reason": KEPT, "n_prompt_tokens": 0, "n_completion_tokens": 0}
    for column in PROJECTION_COLUMNS:
        if column not in frame.columns:
            frame[column] = defaults.get(column, "")
    return count_projection(frame)


def kept_examples(batch: pd.DataFrame) -> pd.DataFrame:
    """Builder output minus the rows it reported as dropped."""
    if "drop_reason" not in batch.columns:
        return batch
    return batch[batch["drop_reason"] == KEPT]


def with_hash_shard(batch: pd.DataFrame, column: str, shards: int) -> pd.DataFrame:
    """Add `shard` from a hex digest column. Group-bys run per shard, not per key: one
    call handles many keys with vectorised pandas instead of one call per key."""
    batch = batch.copy()
    batch["shard"] = [int(value[:8] or "0", 16) % shards for value in batch[column]]
    return batch


def leaking_in_shard(shard: pd.DataFrame) -> pd.DataFrame:
    """Content hashes of one shard that appear in more than one split."""
    splits_per_sha = shard.groupby("sha")["split"].agg(lambda s: ",".join(sorted(set(s))))
    leaks = splits_per_sha[splits_per_sha.str.contains(",")]
    return pd.DataFrame({"sha": leaks.index.astype(str), "splits": leaks.to_numpy(dtype=str)})


def with_extraction_status(batch: pd.DataFrame) -> pd.DataFrame:
    """Add `extraction` (`tasks.extraction` status; "" for dropped rows) to working rows."""
    from codesweep.tasks.extraction import extraction_status

    batch = batch.copy()
    batch["extraction"] = [
        extraction_status(text, language) if reason == KEPT else ""
        for text, language, reason in zip(batch["text"], batch["language"],
                                          batch["drop_reason"], strict=True)]
    return batch


def extraction_counts(batch: pd.DataFrame) -> pd.DataFrame:
    """Files per (split, status) of a batch of kept rows with `extraction` filled, the shape
    of `tasks.extraction.status_counts`."""
    frame = pd.DataFrame({"split": batch["split"].astype(str).to_numpy(),
                          "status": batch["extraction"].astype(str).to_numpy()})
    counts = frame.groupby(["split", "status"], as_index=False).size()
    return counts.rename(columns={"size": "files"}).astype({"files": "int64"})
