"""How one optimizer step happens: plain PyTorch (single process or DDP) or DeepSpeed ZeRO.

Both take the step's micro batches and return the step's mean loss, and both save and load
the state a checkpoint needs beyond the weights (optimizer, schedule), so the loop does not
care which one runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

STATE_FILE = "trainer_state.pt"
DS_TAG = "deepspeed"  # DeepSpeed's own checkpoint folder inside ours


class Engine(Protocol):
    """One optimizer step over micro batches, and the optimizer state a checkpoint holds."""

    forward: Any  # what evaluation calls (the DeepSpeed engine under ZeRO-3: params sharded)

    def step(self, micro_batches: list[dict[str, torch.Tensor]]) -> float: ...
    def lr(self) -> float: ...
    def save(self, directory: Path) -> None: ...
    def load(self, directory: Path) -> None: ...


@dataclass
class TorchEngine:
    """AdamW + schedule; under DDP gradients are all-reduced once per step, not per micro batch."""

    model: Any
    wrapped: Any
    optimizer: Any
    scheduler: Any
    max_grad_norm: float

    @property
    def forward(self) -> Any:
        return self.model

    def step(self, micro_batches: list[dict[str, torch.Tensor]]) -> float:
        total = 0.0
        for index, batch in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            sync = contextlib.nullcontext() if last or not hasattr(self.wrapped, "no_sync") \
                else self.wrapped.no_sync()
            with sync:
                loss = self.wrapped(**batch).loss / len(micro_batches)
                loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def save(self, directory: Path) -> None:
        torch.save({"optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict()}, directory / STATE_FILE)

    def load(self, directory: Path) -> None:
        state = torch.load(directory / STATE_FILE, weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


@dataclass
class DeepSpeedEngine:
    """DeepSpeed owns optimizer, schedule, accumulation and clipping (from its config)."""

    engine: Any
    scheduler: Any

    @property
    def forward(self) -> Any:
        return self.engine

    def step(self, micro_batches: list[dict[str, torch.Tensor]]) -> float:
        total = 0.0
        for batch in micro_batches:
            loss = self.engine(**batch).loss
            self.engine.backward(loss)  # scales by 1/accumulation itself
            self.engine.step()  # steps the optimizer only at the accumulation boundary
            total += loss.item() / len(micro_batches)
        return total

    def lr(self) -> float:
        return float(self.engine.get_lr()[0])

    def save(self, directory: Path) -> None:
        # Collective: every rank writes its optimizer shard under the same tag.
        self.engine.save_checkpoint(str(directory), tag=DS_TAG)

    def load(self, directory: Path) -> None:
        self.engine.load_checkpoint(str(directory), tag=DS_TAG)


def make_engine(model: Any, recipe: Any, world_size: int, wrap_model: Any) -> Engine:
    """DeepSpeed when the recipe asks for it, else AdamW on the (DDP-)wrapped model."""
    from codesweep.models.deepspeed import initialize, uses_deepspeed
    from codesweep.train.steps import make_optimizer

    if uses_deepspeed(recipe):
        return DeepSpeedEngine(*initialize(model, recipe, world_size))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer, scheduler = make_optimizer(trainable, recipe.optim, recipe.train.max_steps)
    return TorchEngine(model, wrap_model(model), optimizer, scheduler, recipe.optim.max_grad_norm)
