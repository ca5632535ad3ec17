"""The small reductions prepare runs as one task over materialised blocks, called in-process:
the same counts as mapping the block functions and concatenating."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from codesweep.corpus import blocks, ray_steps
from codesweep.tasks.manifest import summarize


def working_rows(reasons: list[str], splits: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "path": [f"f{n}.py" for n in range(len(reasons))], "text": "x", "split": splits,
        "num_bytes": [10 * (n + 1) for n in range(len(reasons))],
        "header_stripped": [True, False] * (len(reasons) // 2) + [False] * (len(reasons) % 2),
        "lines_dropped": list(range(len(reasons))), "drop_reason": reasons,
        "drop_stage": ["filter" if reason else "" for reason in reasons]})


def test_the_ledger_counts_only_the_drops_of_the_read_rows():
    read = working_rows(["", "too_short", ""], ["", "", ""])
    final = working_rows(["", "", "exact_duplicate"], ["train", "test", ""])
    ledger = ray_steps.ledger_of._function(1, pa.Table.from_pandas(read),
                                           pa.Table.from_pandas(final),
                                           pa.table({"split": pa.array([], pa.string())}))
    expected = pd.concat([blocks.ledger_summary(read[read["drop_reason"] != ""]),
                          blocks.ledger_summary(final)], ignore_index=True)
    pd.testing.assert_frame_equal(ledger, expected)
    assert ledger["files"].sum() == 4  # read's two kept rows are counted in the split rows


def test_examples_summary_equals_summarize_over_the_projection():
    frame = pd.DataFrame({"split": "validation", "prompt": ["a", "b", "c"],
                          "drop_reason": ["", "cross_split_duplicate", ""],
                          "n_prompt_tokens": [3, 4, 5], "n_completion_tokens": [1, 2, 3]})
    tables = [pa.Table.from_pandas(frame.iloc[:2]), pa.Table.from_pandas(frame.iloc[2:])]
    summary = ray_steps.examples_summary._function("validation", *tables)
    assert summary == summarize(blocks.task_projection(frame))["validation"]
    assert ray_steps.examples_summary._function("test") == {"examples": 0, "dropped": {}}


def test_extraction_summary_counts_files_per_split_and_status():
    facts = pa.table({"split": ["train", "train", "test"], "status": ["ok", "failed", "ok"],
                      "hashes": [b"", b"", b""]})
    assert ray_steps.extraction_summary._function(facts, facts.slice(0, 1)) == {
        "train": {"ok": 2, "failed": 1}, "test": {"ok": 1}}


def test_returning_a_workers_memory_runs_no_full_collection(monkeypatch):
    """After each block a worker trims its heap and Arrow's pool; a full `gc.collect()`
    there found nothing to free and scanned the worker's ~160k live objects each time
    (0.12-0.2 s a block)."""
    import gc

    def refuse(*args):
        raise AssertionError("a full collection after a block")

    monkeypatch.setattr(gc, "collect", refuse)
    blocks.return_memory()


def test_a_worker_deserialises_a_cached_argument_once_and_keeps_only_the_last(ray_session):
    """The benchmark index reaches every read task; a worker unpickles it once (45 ms a
    task before) and holds one such value at a time."""
    import ray

    index = {"def f ( x )": [0], "return x + 1": [1]}
    first = ray_steps.WorkerCached(ray.put(index))
    assert ray_steps._value(first) == index
    assert ray_steps._value(first) is ray_steps._value(first)
    other = ray_steps.WorkerCached(ray.put({"another": [2]}))
    assert ray_steps._value(other) == {"another": [2]}
    assert ray_steps._WORKER_CACHE["value"] == {"another": [2]}
    assert ray_steps._value(first) == index and ray_steps._value(first) is not index


def test_read_blocks_are_joined_in_order_into_about_one_per_cpu(ray_session):
    """Later passes pay a task per block, so the read pass's small blocks are joined, in
    order, into one per CPU, or more when each would hold over COALESCED_BLOCK_BYTES."""
    import ray
    import ray.data

    frames = [pd.DataFrame({"path": [f"{n}.py"], "detail": [None if n % 2 else "x"]})
              for n in range(10)]
    read = ray.data.from_pandas(frames).materialize()
    cpus = int(ray.cluster_resources()["CPU"])
    assert 1 < cpus < 10
    refs = read.to_arrow_refs()
    joined = ray_steps.coalesced(refs, source_bytes=1000)
    assert joined.num_blocks() == cpus
    assert joined.to_pandas()["path"].tolist() == [f"{n}.py" for n in range(10)]
    assert ray_steps.coalesced(refs, ray_steps.COALESCED_BLOCK_BYTES * 8).num_blocks() == 8
    assert ray_steps.coalesced(refs, ray_steps.COALESCED_BLOCK_BYTES * 20).num_blocks() == 10


def test_read_batches_cover_the_listing_in_order_with_even_bytes():
    """The read pass's batches are contiguous runs of the listing, a multiple of the CPUs,
    each within one file of an equal share of the bytes, so no last batch works alone."""
    import random

    import numpy as np

    rng = random.Random(0)
    sizes = np.array([int(rng.lognormvariate(8, 1.5)) for _ in range(794)])
    batches = ray_steps.read_batches(sizes, files_per_batch=64, cpus=4)
    assert len(batches) == 16  # 13 batches of 64 files, rounded up to a multiple of 4
    assert [start for start, _ in batches] == [0] + [end for _, end in batches[:-1]]
    assert batches[-1][1] == len(sizes)
    weights = [int(sizes[start:end].sum()) + end - start for start, end in batches]
    share, largest = sum(weights) / len(batches), int(sizes.max()) + 1
    assert max(weights) <= share + largest and min(weights) >= share - largest
    assert ray_steps.read_batches(sizes[:3], files_per_batch=64, cpus=4) == [(0, 1), (1, 2),
                                                                              (2, 3)]


def test_a_small_eval_split_still_comes_in_a_piece_per_cpu():
    """The standard library's validation split (0.6 MB) is built on both cores of a 2-core
    machine, not in one task while the other core idles; a split of a few files stays
    whole, and a large one has one piece per CPU."""
    assert ray_steps.split_pieces(600_000, cpus=2) == 2
    assert ray_steps.split_pieces(20_000, cpus=2) == 1
    assert ray_steps.split_pieces(0, cpus=2) == 1
    assert ray_steps.split_pieces(100 * 2**20, cpus=4) == 4


def test_blocks_are_written_in_order_in_parts_of_at_least_min_rows(ray_session, tmp_path):
    """A plain task writes a split's blocks as Ray Data's writer did: rows in block order,
    a part filled to `min_rows` before the next starts, row groups of `group_rows`; empty
    blocks add nothing, and a directory that got no rows still reads as an empty table."""
    import pyarrow.parquet as pq
    import ray

    tables = [pa.table({"sha": [f"{n:02d}" for n in range(start, end)]})
              for start, end in [(0, 3), (3, 3), (3, 5), (5, 9)]]
    written = tmp_path / "train"
    parts = ray.get(ray_steps.parquet_parts.remote(str(written), 4, 2, *map(ray.put, tables)))
    files = sorted(written.glob("*.parquet"))
    assert parts == len(files) == 2
    assert [pq.ParquetFile(path).metadata.num_rows for path in files] == [5, 4]
    assert max(pq.ParquetFile(path).metadata.row_group(index).num_rows
               for path in files for index in range(pq.ParquetFile(path).num_row_groups)) == 2
    assert pd.read_parquet(written)["sha"].tolist() == [f"{n:02d}" for n in range(9)]
    empty = tmp_path / "test"
    task = ray_steps.parquet_parts.remote(str(empty), 4, 2, ray.put(tables[1]))
    ray_steps.finish_writes([(task, empty, tables[1].schema)])
    assert pd.read_parquet(empty).columns.tolist() == ["sha"] and not len(pd.read_parquet(empty))


def test_source_reads_stay_on_the_node_whose_disk_holds_the_sources(
        ray_session, tmp_path, monkeypatch) -> None:
    """The read pass is pinned to the driver's node (see tests/test_cluster_sweep.py for two
    nodes), unless every root is on a network filesystem; a node without CPUs is an error."""
    import pytest
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from codesweep.corpus.sources import ResolvedSource
    from codesweep.errors import CodesweepError

    sources = [ResolvedSource("repo", "local", tmp_path, "", str(tmp_path))]
    placement = ray_steps.where_sources_are(sources)["scheduling_strategy"]
    assert isinstance(placement, NodeAffinitySchedulingStrategy) and not placement.soft
    assert placement.node_id == ray_session.get_runtime_context().get_node_id()

    monkeypatch.setattr("codesweep.storage_checks.on_network_filesystem", lambda path: True)
    assert ray_steps.where_sources_are(sources) == {}
    monkeypatch.undo()

    node = ray_session.get_runtime_context().get_node_id()
    monkeypatch.setattr(ray_steps.ray, "nodes", lambda: [{"NodeID": node, "Resources": {}}])
    with pytest.raises(CodesweepError, match=f"the sources \\({tmp_path}\\) are on this node's "
                                             "disk, which has no CPUs"):
        ray_steps.where_sources_are(sources)


def test_references_stored_as_indexes_of_block_runs_mark_what_one_reference_marks(
        ray_session, monkeypatch):
    """Each reference in the object store is the index of a run of one block's rows, its
    units read back from the block: together they hold every unit once, and marking eval
    windows against them in a task gives what one in-process reference of all units does."""
    import ray

    from codesweep.drops import KEPT
    from codesweep.tasks import leakage

    def files(texts: list[str], split: str) -> pd.DataFrame:
        return pd.DataFrame({
            "repo": "r", "revision": "", "path": [f"{split}{n}.py" for n in range(len(texts))],
            "language": "python", "text": texts, "num_bytes": [len(t) for t in texts],
            "split": split, "sha": [f"{split}{n}" for n in range(len(texts))], "dup_count": 1,
            "license_header_stripped": False, "drop_reason": KEPT, "extraction": ""})

    def module(n: int) -> str:
        return "".join(f"def f{n}_{i}(x):\n    y = x * {n + i}\n    return y + {i}\n\n"
                       for i in range(6))

    params = {"context_lines": 4, "stride_lines": 4}
    train = files([module(n) for n in range(7)], "train")
    facts = pa.Table.from_pandas(blocks.kept_file_facts(train, ["train", "validation"]),
                                 preserve_index=False)
    examples = blocks.task_examples(train.iloc[:3], "completion", params, 0, [], 0.5, 200,
                                    with_hashes=True)
    file_blocks = [ray.put(facts.slice(0, 4)), ray.put(facts.slice(4))]
    monkeypatch.setattr(ray_steps, "REFERENCE_TEXT_BYTES", 100)
    earlier = ray_steps.EarlierSplits(file_blocks, {"train": 600, "validation": 0, "test": 0})
    earlier.add("train", [ray.put(examples)])
    stored = earlier.references()
    assert len(stored) == 2 * 3 + 1  # 300 bytes of each file block's split in runs of 100
    references = [reference.reference() for reference in stored]
    units = [reference.unit(i).tolist() for reference in references
             for i in range(len(reference))]
    whole = [*blocks.reference_units(facts, ["train"]), *blocks.reference_units(examples, [])]
    assert sorted(units) == sorted(unit.tolist() for unit in whole)
    assert len(units) == len(whole) == 7 + examples["drop_reason"].to_pylist().count(KEPT)

    evaluated = files([module(1), module(20)], "validation")  # one copies a train file
    in_task = ray.get(ray_steps.mapped_blocks(
        [ray.put(pa.Table.from_pandas(evaluated, preserve_index=False))],
        blocks.task_examples, builder="completion", params=params, seed=0,
        references=stored, min_containment=0.5, tail_chars=200, with_hashes=False)[0])
    in_process = blocks.task_examples(evaluated, "completion", params, 0,
                                      [leakage.reference_of(whole)], 0.5, 200, False)
    assert in_task["drop_reason"].to_pylist() == in_process["drop_reason"].to_pylist()
    assert leakage.REASON in in_task["drop_reason"].to_pylist()
    assert KEPT in in_task["drop_reason"].to_pylist()


def test_marking_tasks_wait_for_their_references_indexes_as_task_arguments(monkeypatch):
    """Ray starts a task once its arguments exist: the indexes are passed as arguments so
    no marking task starts, and waits in `ray.get`, while they are being built."""
    started: list[tuple] = []

    class Task:
        def remote(self, *args):
            started.append(args)
            return "example block"

    monkeypatch.setattr(ray_steps, "mapped_block", Task())
    stored = [ray_steps.StoredReference("index 1", "train", "files", (0, 2)),
              ray_steps.StoredReference("index 2", "train", "examples", (0, 1))]
    kwargs = {"references": stored, "seed": 0}
    assert ray_steps.mapped_blocks(["split piece"], blocks.task_examples, **kwargs) \
        == ["example block"]
    assert started == [(blocks.task_examples, kwargs, None, "split piece", "index 1",
                        "index 2")]
