"""Where a run's training examples live in the prepared data, and how they are read.

Raw files: `<prepared>/files/<split>/` (column `text`). Tasks: `<prepared>/tasks/<task>/<split>/`
(columns `prompt`, `completion`); with `data.ir_variant` the task directory is
`<task>_<variant>` (variant C may reuse B's examples, which are identical by construction).
Locations are strings joined from the `PreparedDataRef` (local paths or storage URIs); every
read goes through the location's `pyarrow.fs` filesystem, so a worker on another node reads
the same shared root the driver wrote.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from codesweep.config.schema import DataConfig
from codesweep.errors import CodesweepError, did_you_mean
from codesweep.records import PreparedDataRef, join
from codesweep.storage import ref_for

PAIR_COLUMNS = ["prompt", "completion"]


def task_dir(prepared: PreparedDataRef, data: DataConfig) -> str:
    """The directory of the task `data` trains on, with a one-line error when it is missing."""
    assert data.task is not None
    root = prepared.tasks()
    names = [f"{data.task}_{data.ir_variant}"] if data.ir_variant else [data.task]
    if data.ir_variant == "C":
        names.append(f"{data.task}_B")  # B and C share their examples; only the model differs
    for name in names:
        if ref_for(join(root, name)).is_dir():
            return join(root, name)
    prepared_tasks = ref_for(root).list()
    raise CodesweepError(f"data.task: no prepared task {names[0]!r}"
                         f"{did_you_mean(names[0], prepared_tasks)}; "
                         f"prepared: {', '.join(prepared_tasks) or 'none'}")


def split_dir(prepared: PreparedDataRef, data: DataConfig, split: str) -> str:
    """Parquet directory of one split of what the run trains on."""
    return join(task_dir(prepared, data), split) if data.task else prepared.files(split)


def columns(data: DataConfig) -> list[str]:
    """The Parquet columns a run reads."""
    return PAIR_COLUMNS if data.task else ["text"]


def rows_of(frame: pd.DataFrame, data: DataConfig) -> Iterator[Any]:
    """Texts (files) or (prompt, completion) pairs (tasks) of a DataFrame's rows."""
    if data.task:
        yield from zip(frame["prompt"], frame["completion"], strict=True)
    else:
        yield from frame["text"]


def read_ordered(directory: str, wanted: list[str], key: str) -> pd.DataFrame:
    """Read Parquet columns whole, sorted by `key`: for splits whose parts are not written in
    key order (data prepared before splits were sorted), where part order varies between
    runs and the first rows decide which blocks train."""
    filesystem, path = ref_for(directory).pyarrow_target()
    frame = pq.read_table(path, columns=[*wanted, key], filesystem=filesystem).to_pandas()
    return frame.sort_values(key, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class RowGroup:
    """One Parquet row group of a split: where it is, how many rows, its key range."""

    path: str
    index: int
    num_rows: int
    first: str
    last: str


def sorted_row_groups(directory: str, key: str) -> list[RowGroup] | None:
    """The split's non-empty row groups in `key` order, from the Parquet footers alone; None
    when a footer has no key statistics or two groups' key ranges overlap (the split was not
    written sorted)."""
    ref = ref_for(directory)
    filesystem = ref.filesystem()
    groups: list[RowGroup] = []
    for name in sorted(n for n in ref.files() if n.endswith(".parquet")):
        path = f"{ref.path.rstrip('/')}/{name}"
        metadata = pq.ParquetFile(path, filesystem=filesystem).metadata
        column = metadata.schema.names.index(key) if key in metadata.schema.names else None
        for index in range(metadata.num_row_groups):
            group = metadata.row_group(index)
            if group.num_rows == 0:
                continue
            stats = group.column(column).statistics if column is not None else None
            if stats is None or not stats.has_min_max:
                return None
            groups.append(RowGroup(path, index, group.num_rows, stats.min, stats.max))
    groups.sort(key=lambda g: g.first)
    if any(later.first < earlier.last for earlier, later in itertools.pairwise(groups)):
        return None
    return groups


def read_rows(directory: str, wanted: list[str], key: str, rank: int = 0, world: int = 1,
              from_end: bool = False) -> Iterator[pd.DataFrame]:
    """Stream part `rank` of `world` equal, contiguous ranges of a split in `key` order (the
    reverse order with `from_end`), one row group at a time. Only the row groups holding
    that range are read, so a worker's reads and memory follow its share, not the split.
    A split not written sorted is read whole and sorted (same rows, same order)."""
    groups = sorted_row_groups(directory, key)
    if groups is None:
        frame = read_ordered(directory, wanted, key)
        share = frame.iloc[len(frame) * rank // world:len(frame) * (rank + 1) // world]
        yield share.iloc[::-1] if from_end else share
        return
    filesystem = ref_for(directory).filesystem()
    columns_read = list(dict.fromkeys([*wanted, key]))
    spans = _share_spans(groups, rank, world)
    for group, begin, end in (reversed(spans) if from_end else spans):
        # Footers show the groups' ranges are disjoint, not that each group is sorted
        # inside; sorting it (a no-op for prepare's output) makes the whole order right.
        table = pq.ParquetFile(group.path, filesystem=filesystem).read_row_group(
            group.index, columns=columns_read).sort_by(key)
        frame = table.slice(begin, end - begin).select(wanted).to_pandas()
        yield frame.iloc[::-1] if from_end else frame


def _share_spans(groups: list[RowGroup], rank: int,
                 world: int) -> list[tuple[RowGroup, int, int]]:
    """(row group, first row, end row) of each group holding part of share `rank`."""
    total = sum(group.num_rows for group in groups)
    low, high = total * rank // world, total * (rank + 1) // world
    spans, start = [], 0
    for group in groups:
        begin, end = max(low - start, 0), min(high - start, group.num_rows)
        if begin < end:
            spans.append((group, begin, end))
        start += group.num_rows
    return spans


def read_texts(split_dir: str, from_end: bool = False) -> Iterator[str]:
    """Stream the `text` column of a prepared files split, in content-hash order (`from_end`:
    the reverse order, for a reader that should not see the rows training starts with)."""
    for frame in read_rows(split_dir, ["text"], "sha", from_end=from_end):
        yield from frame["text"]


def read_split(prepared: PreparedDataRef, data: DataConfig, split: str, rank: int = 0,
               world: int = 1) -> Iterator[Any]:
    """Stream one split (part `rank` of `world`, see `read_rows`) as `rows_of` yields it, in a
    stable order (by content hash or id)."""
    directory = split_dir(prepared, data, split)
    if not ref_for(directory).is_dir():
        raise CodesweepError(f"{directory}: split {split!r} not found in the prepared data")
    key = "id" if data.task else "sha"
    for frame in read_rows(directory, columns(data), key, rank, world):
        yield from rows_of(frame, data)
