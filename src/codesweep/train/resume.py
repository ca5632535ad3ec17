"""Which checkpoint a restarted trial resumes from: the newest one that loads. A checkpoint
cut short (a full disk, a crash while Ray copied it) is skipped for the one before it, with a
warning, and with none left the trial starts from scratch instead of failing on every retry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path


def usable_checkpoint(latest: Path, warn: Callable[[str], None]) -> Path | None:
    """`latest` if it loads, else the newest earlier sibling checkpoint that does, else None."""
    for candidate in [latest, *earlier_checkpoints(latest)]:
        problem = load_problem(candidate)
        if problem is None:
            if candidate != latest:
                warn(f"resuming from the earlier checkpoint {candidate}")
            return candidate
        warn(f"checkpoint {candidate} cannot be loaded ({problem}); skipping it")
    warn("no checkpoint of this trial loads; starting it from scratch")
    return None


def earlier_checkpoints(latest: Path) -> list[Path]:
    """The other checkpoint directories next to `latest` with a lower step, newest first."""
    latest_step = step_of(latest)
    siblings = [p for p in latest.parent.glob("checkpoint_*") if p.is_dir() and p != latest]
    ranked = [(step, p) for p in siblings if (step := step_of(p)) is not None
              and (latest_step is None or step < latest_step)]
    return [p for _, p in sorted(ranked, key=lambda pair: pair[0], reverse=True)]


def step_of(checkpoint: Path) -> int | None:
    """The step a checkpoint's metrics.json names; None when it has none readable."""
    try:
        return int(json.loads((checkpoint / "metrics.json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_problem(checkpoint: Path) -> str | None:
    """Why a checkpoint's files do not load (`file: error`), or None when every weight,
    state and JSON file in it loads."""
    import torch
    from safetensors.torch import load_file

    loaders: dict[str, Callable[[Path], object]] = {
        ".safetensors": lambda p: load_file(str(p)),
        ".pt": lambda p: torch.load(p, map_location="cpu", weights_only=False),
        ".json": lambda p: json.loads(p.read_text()),
    }
    if not (checkpoint / "step.pt").is_file():
        return "step.pt: missing"
    for path in sorted(checkpoint.iterdir()):
        load = loaders.get(path.suffix)
        if load is None or not path.is_file():
            continue
        try:
            load(path)
        except Exception as exc:  # any failure to load means: do not resume from here
            return f"{path.name}: {type(exc).__name__}: {first_line(exc)}"
    return None


def first_line(exc: Exception) -> str:
    """The first line of an exception's message, at most 200 characters."""
    return (str(exc).splitlines() or [""])[0][:200]
