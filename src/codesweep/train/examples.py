"""Where a run's training examples live in the prepared data, and how they are read.

Raw files: `<prepared>/files/<split>/` (column `text`). Tasks: `<prepared>/tasks/<task>/<split>/`
(columns `prompt`, `completion`); with `data.ir_variant` the task directory is
`<task>_<variant>` (variant C may reuse B's examples, which are identical by construction).
Locations are strings joined from the `PreparedDataRef` (local paths or storage URIs); every
read goes through the location's `pyarrow.fs` filesystem, so a worker on another node reads
the same shared root the driver wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    """Read Parquet columns sorted by `key`: part files come back in the order the prepare
    wrote them, which varies between runs, and the first rows decide which blocks train."""
    filesystem, path = ref_for(directory).pyarrow_target()
    frame = pq.read_table(path, columns=[*wanted, key], filesystem=filesystem).to_pandas()
    return frame.sort_values(key, kind="stable").reset_index(drop=True)


def read_texts(split_dir: str, from_end: bool = False) -> Iterator[str]:
    """Stream the `text` column of a prepared files split, in content-hash order (`from_end`:
    the reverse order, for a reader that should not see the rows training starts with)."""
    texts = read_ordered(split_dir, ["text"], "sha")["text"]
    yield from (texts[::-1] if from_end else texts)


def read_split(prepared: PreparedDataRef, data: DataConfig, split: str) -> Iterator[Any]:
    """Stream one split as `rows_of` yields it, in a stable order (by content hash or id)."""
    directory = split_dir(prepared, data, split)
    if not ref_for(directory).is_dir():
        raise CodesweepError(f"{directory}: split {split!r} not found in the prepared data")
    key = "id" if data.task else "sha"
    yield from rows_of(read_ordered(directory, columns(data), key), data)
