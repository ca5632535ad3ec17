"""A direct loader's share of a prepared split: found from the Parquet footers, read from
only the row groups that hold it, the same rows and order as sorting the whole split."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codesweep.train import examples
from codesweep.train.examples import read_rows, read_texts, sorted_row_groups


def rows(count: int) -> list[dict[str, str]]:
    """Files with distinct content hashes, in hash order."""
    made = [{"text": f"text {i}", "sha": hashlib.sha256(str(i).encode()).hexdigest()}
            for i in range(count)]
    return sorted(made, key=lambda row: row["sha"])


def write_split(directory: Path, parts: dict[str, list[dict[str, str]]],
                row_group_size: int) -> None:
    directory.mkdir(parents=True)
    for name, part in parts.items():
        pq.write_table(pa.Table.from_pylist(part, schema=pa.schema(
            [("text", pa.string()), ("sha", pa.string())])),
            directory / name, row_group_size=row_group_size)


@pytest.fixture
def sorted_split(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    """30 rows in 3 parts of 2 row groups each; the part names do not follow the key order,
    and an empty part (as prepare writes for an empty split) sits among them."""
    every = rows(30)
    directory = tmp_path / "train"
    write_split(directory, {"c.parquet": every[:10], "a.parquet": every[10:20],
                            "b.parquet": every[20:], "empty.parquet": []}, row_group_size=5)
    return directory, every


@pytest.fixture
def read_groups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first text of every row group read through pyarrow, in read order."""
    seen: list[str] = []
    original = pq.ParquetFile.read_row_group

    def spy(self, index, *args, **kwargs):
        group = original(self, index, *args, **kwargs)
        seen.append(group.column("text")[0].as_py())
        return group

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    return seen


def texts(frames) -> list[str]:
    return [text for frame in frames for text in frame["text"]]


def test_row_groups_come_in_key_order_from_the_footers(sorted_split):
    directory, every = sorted_split
    groups = sorted_row_groups(str(directory), "sha")
    assert groups is not None
    assert [(Path(g.path).name, g.index) for g in groups] == [
        ("c.parquet", 0), ("c.parquet", 1), ("a.parquet", 0), ("a.parquet", 1),
        ("b.parquet", 0), ("b.parquet", 1)]
    assert [g.first for g in groups] == [every[i]["sha"] for i in range(0, 30, 5)]


def test_each_worker_reads_only_the_row_groups_of_its_share(sorted_split, read_groups):
    directory, every = sorted_split
    shares = []
    for rank in range(4):
        read_groups.clear()
        shares.append(texts(read_rows(str(directory), ["text"], "sha", rank, 4)))
        low, high = 30 * rank // 4, 30 * (rank + 1) // 4
        holding = [every[row - row % 5]["text"] for row in range(low, high) if row % 5 == 0
                   or row == low]  # the first row of each group of 5 the share touches
        assert read_groups == holding and len(holding) <= 3  # not all 6 groups
    assert [len(share) for share in shares] == [7, 8, 7, 8]
    assert sum(shares, []) == [row["text"] for row in every]  # disjoint, complete, in order


def test_reading_from_the_end_reverses_the_order(sorted_split):
    directory, every = sorted_split
    assert list(read_texts(str(directory), from_end=True)) == [r["text"] for r in every[::-1]]
    assert list(read_texts(str(directory))) == [r["text"] for r in every]


def test_a_split_not_written_sorted_is_read_whole_and_sorted(tmp_path, read_groups):
    every = rows(12)
    directory = tmp_path / "old"
    write_split(directory, {"p0.parquet": every[::2], "p1.parquet": every[1::2]},
                row_group_size=3)  # interleaved: the parts' key ranges overlap
    assert sorted_row_groups(str(directory), "sha") is None
    shares = [texts(read_rows(str(directory), ["text"], "sha", rank, 2)) for rank in (0, 1)]
    assert shares == [[r["text"] for r in every[:6]], [r["text"] for r in every[6:]]]
    assert read_groups == []  # one whole read per share, not row group by row group


def test_a_footer_without_key_statistics_falls_back_to_a_whole_read(tmp_path):
    every = rows(6)
    directory = tmp_path / "nostats"
    directory.mkdir()
    pq.write_table(pa.Table.from_pylist(every[::-1]), directory / "p.parquet",
                   write_statistics=False)
    assert sorted_row_groups(str(directory), "sha") is None
    assert list(read_texts(str(directory))) == [r["text"] for r in every]


def test_read_split_gives_rank_its_share(sorted_split, monkeypatch):
    from codesweep.config.schema import DataConfig

    directory, every = sorted_split
    monkeypatch.setattr(examples, "split_dir", lambda prepared, data, split: str(directory))
    monkeypatch.setattr(examples, "columns", lambda data: ["text"])
    share = list(examples.read_split(None, DataConfig(), "train", rank=1, world=3))
    assert share == [row["text"] for row in every[10:20]]


def test_rows_inside_a_row_group_come_in_key_order_too(tmp_path):
    every = rows(6)
    directory = tmp_path / "one"
    write_split(directory, {"p.parquet": every[::-1]}, row_group_size=10)  # one group, reversed
    assert list(read_texts(str(directory))) == [r["text"] for r in every]
    assert texts(read_rows(str(directory), ["text"], "sha", 1, 2)) == [r["text"] for r in every[3:]]


def test_a_direct_train_worker_gets_its_contiguous_share(sorted_split, monkeypatch):
    """The Train worker's own rows come from `read_rows`' share, not from every world-th
    row of a whole-split read."""
    from codesweep.config.schema import DataConfig
    from codesweep.train import ray_worker

    directory, every = sorted_split
    monkeypatch.setattr(examples, "split_dir", lambda prepared, data, split: str(directory))
    monkeypatch.setattr(examples, "columns", lambda data: ["text"])
    rows = list(ray_worker._train_rows(None, DataConfig(loader="direct"), rank=1, world=2))
    assert rows == [row["text"] for row in every[15:]]
