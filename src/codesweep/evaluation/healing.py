"""Whitespace healing: a prompt that ends in whitespace is decoded as if it did not.

A byte-level BPE attaches a space to the word after it (`x =`, ` tuple`) and merges a newline
with the indentation that follows it (`\\n       `, ` else`), so a prompt cut just after a
space or inside an indentation ends on a token the model never saw in that place, and it
continues with junk. Line-completion prompts are cut that way about half the time. Healing
(the technique Guidance calls token healing, kept to whitespace) removes the trailing
whitespace from the prompt and lets the first new tokens spell it back, any way the model
likes: each step allows only tokens that agree with what is left of that whitespace. The
spelled whitespace is removed from the prediction, which then starts where the prompt ended.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch

from codesweep.config.schema import GenerationConfig


def split_prompts(prompts: Sequence[str], gen: GenerationConfig, model: Any
                  ) -> tuple[list[str], list[str]]:
    """(prompts to encode, the whitespace each lost): all tails empty when healing is off or
    the model is an encoder-decoder (its output does not continue the prompt's tokens)."""
    if not gen.heal_whitespace or model.config.is_encoder_decoder:
        return list(prompts), [""] * len(prompts)
    bodies = [prompt.rstrip() for prompt in prompts]
    return bodies, [prompt[len(body):] for prompt, body in zip(prompts, bodies, strict=True)]


def generate_options(tails: list[str], tokenizer: Any, prompt_length: int,
                     gen: GenerationConfig) -> dict[str, Any]:
    """Extra `model.generate` arguments: the healing constraint, and the stop strings unless
    a tail holds one (the model spells a healed newline, which must not end the row)."""
    stops = gen.stop or None
    if not any(tails):
        return {"stop_strings": stops}
    from transformers import LogitsProcessorList

    if stops and any(stop in tail for tail in tails for stop in stops):
        stops = None  # the prediction is still cut at the stop once the tail is removed
    texts, masks = token_table(tokenizer)
    healing = WhitespaceHealing(tails, texts, prompt_length, gen.num_beams, masks)
    return {"stop_strings": stops, "logits_processor": LogitsProcessorList([healing])}


def remove_tail(text: str, tail: str) -> str:
    """The prediction after the healed whitespace. Text that is not past the tail (the token
    budget ran out while spelling it) predicts nothing."""
    return text[len(tail):] if text.startswith(tail) else ""


@functools.lru_cache(maxsize=4)
def token_table(tokenizer: Any) -> tuple[list[str], dict[tuple[str, int], torch.Tensor]]:
    """The text each token id decodes to on its own, and a cache of allowed-token masks:
    once per tokenizer, not per batch (a real vocabulary is tens of thousands of decodes)."""
    return [tokenizer.decode([token]) for token in range(len(tokenizer))], {}


class WhitespaceHealing:
    """A logits processor: while a row has not yet spelled its prompt's trailing whitespace,
    only tokens that continue it (or cover all of it and go on) keep their scores."""

    def __init__(self, tails: list[str], texts: list[str], prompt_length: int,
                 beams: int = 1, masks: dict[tuple[str, int], torch.Tensor] | None = None
                 ) -> None:
        self.tails, self.texts = tails, texts
        self.prompt_length, self.beams = prompt_length, beams
        # (remaining whitespace, vocabulary width) -> allowed tokens; shared across batches
        self.masks = {} if masks is None else masks

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor
                 ) -> torch.FloatTensor:
        for row in range(input_ids.shape[0]):
            left = self._left(self.tails[row // self.beams], input_ids[row, self.prompt_length:])
            if left:
                allowed = self._mask(left, scores.shape[1]).to(scores.device)
                scores[row] = scores[row].masked_fill(~allowed, float("-inf"))
        return scores

    def _left(self, tail: str, new_ids: torch.Tensor) -> str:
        spelled = "".join(self.texts[token] for token in new_ids.tolist())
        return tail[len(spelled):] if tail.startswith(spelled) else ""

    def _mask(self, left: str, width: int) -> torch.Tensor:
        if (left, width) not in self.masks:
            allowed = torch.zeros(width, dtype=torch.bool)
            for token, text in enumerate(self.texts[:width]):
                allowed[token] = bool(text) and (text.startswith(left) or left.startswith(text))
            self.masks[left, width] = allowed
        return self.masks[left, width]
