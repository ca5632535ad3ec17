"""How one optimizer step happens: plain PyTorch (single process or DDP) or DeepSpeed ZeRO.

Both take the step's micro batches and return the step's loss, and both save and load the
state a checkpoint needs beyond the weights (optimizer, schedule), so the loop does not care
which one runs.

The step's loss is per token: the sum of every token loss over the step's micro batches and
workers, divided by the step's loss tokens (all-reduced). Each micro batch's summed loss is
scaled by what the data-parallel averaging and DeepSpeed's 1/accumulation will divide back
out, so the gradient is that of the per-token loss; a micro batch of mostly padding or prompt
weighs by its few targets, not as much as a full one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from codesweep.train.steps import global_sum, loss_tokens, summed_loss

STATE_FILE = "trainer_state.pt"
DS_TAG = "deepspeed"  # DeepSpeed's own checkpoint folder inside ours


class Engine(Protocol):
    """One optimizer step over micro batches, and the optimizer state a checkpoint holds."""

    @property
    def forward(self) -> Any:
        """What evaluation calls (the DeepSpeed engine under ZeRO-3: params sharded)."""

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
    world_size: int = 1
    seq2seq: bool = False

    @property
    def forward(self) -> Any:
        return self.model

    def step(self, micro_batches: list[dict[str, torch.Tensor]]) -> float:
        loss = self.accumulate(micro_batches)
        torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss

    def accumulate(self, micro_batches: list[dict[str, torch.Tensor]]) -> float:
        """Backward passes of one step: gradients of its per-token loss; return that loss."""
        tokens = step_tokens(micro_batches, self.seq2seq)
        scale = self.world_size / tokens  # DDP averages the gradients over the workers
        total = 0.0
        for index, batch in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            sync = contextlib.nullcontext() if last or not hasattr(self.wrapped, "no_sync") \
                else self.wrapped.no_sync()
            with sync:
                loss = summed_loss(self.wrapped, batch, self.seq2seq)
                (loss * scale).backward()
            total += loss.item()
        return global_sum(total)[0] / tokens

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
    world_size: int = 1
    seq2seq: bool = False

    @property
    def forward(self) -> Any:
        return self.engine

    def step(self, micro_batches: list[dict[str, torch.Tensor]]) -> float:
        tokens = step_tokens(micro_batches, self.seq2seq)
        # backward() divides by the accumulation steps, and ZeRO averages over the workers
        scale = self.engine.gradient_accumulation_steps() * self.world_size / tokens
        total = 0.0
        for batch in micro_batches:
            loss = summed_loss(self.engine, batch, self.seq2seq)
            self.engine.backward(loss * scale)
            self.engine.step()  # steps the optimizer only at the accumulation boundary
            total += loss.item()
        return global_sum(total)[0] / tokens

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

    seq2seq = bool(model.config.is_encoder_decoder)
    if uses_deepspeed(recipe):
        return DeepSpeedEngine(*initialize(model, recipe, world_size), world_size, seq2seq)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer, scheduler = make_optimizer(trainable, recipe.optim, recipe.train.max_steps)
    return TorchEngine(model, wrap_model(model), optimizer, scheduler, recipe.optim.max_grad_norm,
                       world_size, seq2seq)


def step_tokens(micro_batches: list[dict[str, torch.Tensor]], seq2seq: bool) -> int:
    """Loss tokens of one step over all its micro batches and all workers (at least 1)."""
    local = sum(loss_tokens(batch, seq2seq) for batch in micro_batches)
    return max(1, round(global_sum(float(local))[0]))
