"""Recorded sizes and checksums catch a truncated Parquet file (cheap check) and a changed
byte in the middle of a large file (full check only); an untouched directory is clean."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codesweep import integrity


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    """A prepared-dataset-like directory: Parquet parts, a manifest, a hidden lock file."""
    root = tmp_path / "prepared"
    for split in ("train", "test"):
        (root / "files" / split).mkdir(parents=True)
        table = pa.table({"content": [f"def f{i}(): return {i}\n" * 40 for i in range(300)]})
        pq.write_table(table, root / "files" / split / "part-0.parquet")
    (root / ".lock").write_text("{}")
    (root / "manifest.json").write_text("{}")
    return root


def recorded(root: Path, full: bool = True) -> dict:
    # through JSON, as it is stored in manifest.json
    return json.loads(json.dumps(integrity.record(root, exclude=("manifest.json",), full=full)))


def test_record_lists_every_visible_file(dataset: Path) -> None:
    entries = recorded(dataset)
    assert sorted(entries) == ["files/test/part-0.parquet", "files/train/part-0.parquet"]
    part = dataset / "files" / "train" / "part-0.parquet"
    assert entries["files/train/part-0.parquet"]["size"] == part.stat().st_size


def test_unchanged_directory_is_clean(dataset: Path) -> None:
    entries = recorded(dataset)
    (dataset / "manifest.json").write_text('{"rewritten": true}')  # excluded: not a mismatch
    (dataset / ".lock").unlink()  # hidden: not a mismatch
    assert integrity.verify(dataset, entries, exclude=("manifest.json",)) == []
    assert integrity.verify(dataset, entries, exclude=("manifest.json",), full=True) == []


def test_truncated_parquet_is_detected_naming_the_file(dataset: Path) -> None:
    entries = recorded(dataset)
    part = dataset / "files" / "train" / "part-0.parquet"
    size = part.stat().st_size
    os.truncate(part, size // 2)
    problems = integrity.verify(dataset, entries, exclude=("manifest.json",))
    assert [str(p) for p in problems] == [
        f"files/train/part-0.parquet: size {size // 2} bytes, recorded {size}"]
    line = integrity.describe(dataset, problems)
    assert line == (f"{dataset}: 1 file differs from their record (files/train/part-0.parquet: "
                    f"size {size // 2} bytes, recorded {size})")


def test_changed_middle_byte_needs_the_full_check(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(os.urandom(512 * 1024))
    entries = integrity.record(tmp_path)
    with weights.open("r+b") as handle:  # same size, same first and last 64 KiB
        handle.seek(256 * 1024)
        byte = handle.read(1)
        handle.seek(256 * 1024)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert integrity.verify(tmp_path, entries) == []
    assert [str(p) for p in integrity.verify(tmp_path, entries, full=True)] == [
        "model.safetensors: content changed (full checksum)"]


def test_changed_end_is_caught_cheaply(tmp_path: Path) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\0" * 300_000)
    entries = integrity.record(tmp_path, full=False)
    with weights.open("r+b") as handle:
        handle.seek(-10, os.SEEK_END)
        handle.write(b"x" * 10)
    assert [p.reason for p in integrity.verify(tmp_path, entries)] == [
        "content changed (first or last 64 KiB)"]
    assert [p.reason for p in integrity.verify(tmp_path, entries, full=True)] == [
        "content changed (first or last 64 KiB)"]


def test_missing_added_and_unverifiable_files(dataset: Path) -> None:
    entries = recorded(dataset, full=False)
    (dataset / "files" / "test" / "part-0.parquet").unlink()
    (dataset / "files" / "train" / "part-1.parquet").write_bytes(b"PAR1")
    problems = integrity.verify(dataset, entries, exclude=("manifest.json",), full=True)
    assert [str(p) for p in problems] == [
        "files/test/part-0.parquet: missing",
        "files/train/part-1.parquet: not in the record (added later?)",
        "files/train/part-0.parquet: no full checksum recorded, so it cannot be verified"]
    assert "; and" not in integrity.describe(dataset, problems)
    assert integrity.describe(dataset, problems, shown=1).endswith("; and 2 more)")
