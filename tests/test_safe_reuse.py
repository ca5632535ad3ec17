"""Without Ray: cached data and base models are checked before reuse, a run dir has one
writer, and the command line turns resource errors and interrupts into one line."""

from __future__ import annotations

import errno
import io
import json
import socket
import sys
from pathlib import Path

import pytest
from drill_support import STDLIB, tiny_workspace
from rich.console import Console
from typer.testing import CliRunner

from codesweep.cli.app import app, user_errors_as_one_line
from codesweep.config.schema import TinyModelConfig
from codesweep.corpus.manifest import check_prepared, write_manifest
from codesweep.locks import RUN_DIR_LOCK
from codesweep.sweep_state import SweepInterrupted
from codesweep.train.pretrain import INTEGRITY, check_base, ensure_tiny_base

TINY = TinyModelConfig(vocab_size=300, hidden_size=16, num_layers=1, num_heads=2,
                       intermediate_size=32, pretrain_steps=0)


def texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(STDLIB.glob("[a-c]*.py"))[:6]]


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_truncated_base_is_rebuilt_with_a_note(tmp_path: Path) -> None:
    notes: list[str] = []
    path, reused = ensure_tiny_base(TINY, texts, "data", tmp_path, log=notes.append)
    assert not reused and (path / INTEGRITY).is_file()
    assert ensure_tiny_base(TINY, texts, "data", tmp_path, log=notes.append) == (path, True)
    weights = next(path.glob("*.safetensors"))
    truncate(weights)
    assert weights.name in str(check_base(path))
    notes.clear()
    assert ensure_tiny_base(TINY, texts, "data", tmp_path, log=notes.append) == (path, False)
    assert any(n.startswith("rebuilding the tiny base") and weights.name in n for n in notes)
    assert check_base(path) is None  # the rebuilt base matches its new record


def test_base_without_a_record_is_not_trusted(tmp_path: Path) -> None:
    path, _ = ensure_tiny_base(TINY, texts, "data", tmp_path, log=lambda m: None)
    (path / INTEGRITY).unlink()
    assert "integrity.json: missing" in str(check_base(path))


def prepared_dir(root: Path) -> Path:
    (root / "files" / "train").mkdir(parents=True)
    (root / "files" / "train" / "part-0.parquet").write_bytes(bytes(range(256)) * 1024)
    write_manifest(root, {"key": "k"})
    return root


def test_prepared_data_checks_sizes_ends_and_full_hash(tmp_path: Path) -> None:
    root = prepared_dir(tmp_path)
    part = root / "files" / "train" / "part-0.parquet"
    assert check_prepared(root) is None
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, same ends: only the full hash sees it
    part.write_bytes(bytes(data))
    assert check_prepared(root) is None
    assert "files/train/part-0.parquet: content changed (full checksum)" in \
        str(check_prepared(root, full=True))
    truncate(part)
    assert "files/train/part-0.parquet: size" in str(check_prepared(root))


def test_prepared_data_of_an_older_version_is_rebuilt(tmp_path: Path) -> None:
    root = prepared_dir(tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["integrity"]
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert "records no file checksums" in str(check_prepared(root))


def test_second_writer_of_a_run_dir_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    workspace = tiny_workspace(tmp_path, files=3)
    workspace.run_dir.mkdir()
    # pid 1 is alive and not ours: a holder that cannot be taken over
    holder = {"pid": 1, "host": socket.gethostname(), "command": "codesweep run other.yaml",
              "started": "2026-01-01T00:00:00Z", "token": "t", "pid_start": None}
    (workspace.run_dir / RUN_DIR_LOCK).write_text(json.dumps(holder))
    result = CliRunner().invoke(app, ["sweep", str(workspace.recipe), "--run-dir",
                                      str(workspace.run_dir), "--cache-dir",
                                      str(workspace.cache_dir)])
    assert result.exit_code == 2, result.output
    assert "is in use by pid 1" in result.output and "codesweep run other.yaml" in result.output
    assert sorted(p.name for p in workspace.run_dir.iterdir()) == [RUN_DIR_LOCK]
    assert not workspace.cache_dir.exists()  # nothing was prepared


def exits_with(function: object) -> int:
    with pytest.raises(SystemExit) as exit_info:
        user_errors_as_one_line(function)()  # type: ignore[arg-type]
    return int(exit_info.value.code)  # type: ignore[arg-type]


def test_full_disk_and_interrupts_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    printed = io.StringIO()
    monkeypatch.setattr(sys.modules["codesweep.cli.app"], "console",
                        Console(file=printed, width=300))

    def full_disk() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/run/trials.json")

    def interrupted() -> None:
        raise SweepInterrupted("sweep interrupted; continue with the same command")

    assert exits_with(full_disk) == 2
    assert exits_with(interrupted) == 130
    lines = printed.getvalue().strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("error: /data/run/trials.json: no space left on the device")
    assert lines[1] == "error: sweep interrupted; continue with the same command"


def test_other_errors_keep_their_traceback() -> None:
    def bug() -> None:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        user_errors_as_one_line(bug)()
