"""A trial resumes from its newest checkpoint that loads, skipping a truncated one."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from codesweep.train.resume import usable_checkpoint


def checkpoint(root: Path, step: int) -> Path:
    directory = root / f"checkpoint_2026-01-01_00-00-0{step}"
    directory.mkdir(parents=True)
    save_file({"w": torch.ones(64, 64)}, str(directory / "adapter_model.safetensors"))
    torch.save({"step": step}, directory / "step.pt")
    (directory / "metrics.json").write_text(json.dumps({"step": step}))
    return directory


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_sound_newest_checkpoint_is_used_without_a_warning(tmp_path: Path) -> None:
    checkpoint(tmp_path, 2)
    newest = checkpoint(tmp_path, 4)
    warnings: list[str] = []
    assert usable_checkpoint(newest, warnings.append) == newest
    assert warnings == []


def test_truncated_newest_checkpoint_falls_back_to_the_previous(tmp_path: Path) -> None:
    checkpoint(tmp_path, 2)
    previous = checkpoint(tmp_path, 4)
    newest = checkpoint(tmp_path, 6)
    truncate(newest / "adapter_model.safetensors")
    warnings: list[str] = []
    assert usable_checkpoint(newest, warnings.append) == previous
    assert "adapter_model.safetensors" in warnings[0] and "cannot be loaded" in warnings[0]
    assert warnings[1] == f"resuming from the earlier checkpoint {previous}"


def test_no_loadable_checkpoint_starts_from_scratch(tmp_path: Path) -> None:
    only = checkpoint(tmp_path, 2)
    truncate(only / "step.pt")
    warnings: list[str] = []
    assert usable_checkpoint(only, warnings.append) is None
    assert warnings[-1] == "no checkpoint of this trial loads; starting it from scratch"
