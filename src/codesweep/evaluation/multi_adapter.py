"""Many adapters, one base: load the base model once and score many LoRA checkpoints of it in
mixed-adapter batches (PEFT's per-row `adapter_names`), instead of loading and merging the
whole model once per checkpoint.

    engine = MultiAdapterEngine(base_path)
    engine.add_adapter("trial_1/step_4", "/runs/.../checkpoint_4")
    engine.generate([("trial_1/step_4", prompt), (BASE, prompt)], gen)

Rows are sorted by prompt length before batching (less left padding), results come back in
the request order, and stop strings end each row during generation (transformers'
`stop_strings`, which finishes rows one by one) and are cut afterwards with `cut_at_stop`,
exactly like `evaluation.generate.generate`.

Limits of PEFT's mixed batches (peft 0.21), and what the engine does about them:
- DoRA adapters refuse `adapter_names`; they are decoded in groups of their own rows with the
  adapter activated (`set_adapter`), still without reloading the base.
- Adapters may differ in `r`, `alpha` and target modules: a layer an adapter does not target
  leaves that adapter's rows on the base weights, which is what the adapter means.
- A checkpoint that carries its own tokenizer (IR variant C: new token rows) or a full
  fine-tune does not share the base's weights and vocabulary; `shares_base` says so and
  `add_adapter` refuses it: score it with `load_for_generation` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from codesweep.config.schema import GenerationConfig
from codesweep.errors import CodesweepError
from codesweep.evaluation import healing
from codesweep.evaluation.generate import cut_at_stop

BASE = "__base__"  # PEFT's name for rows decoded with no adapter


def shares_base(checkpoint: Path) -> bool:
    """Whether a checkpoint is a plain adapter over the unchanged base (mixable in a batch)."""
    return (checkpoint / "adapter_config.json").is_file() and not (
        checkpoint / "tokenizer_config.json").is_file()


def _uses_dora(checkpoint: Path) -> bool:
    from peft import PeftConfig

    return bool(getattr(PeftConfig.from_pretrained(str(checkpoint)), "use_dora", False))


class MultiAdapterEngine:
    """The base model loaded once, with any number of named LoRA adapters attached."""

    def __init__(self, base_path: str, dtype: str = "auto") -> None:
        from codesweep.models.factory import load_base_model, load_tokenizer

        self.model: Any = load_base_model(base_path, dtype).eval()
        self.tokenizer = load_tokenizer(base_path)
        self.tokenizer.padding_side = "left"  # decoder-only batching, as generate.py does
        self.tokenizer.truncation_side = "left"
        self.dora: set[str] = set()  # adapters decoded in groups of their own

    @property
    def adapters(self) -> list[str]:
        """Names of the attached adapters."""
        return list(getattr(self.model, "peft_config", {}))

    def add_adapter(self, name: str, checkpoint: str | Path) -> None:
        """Attach the adapter saved in `checkpoint` under `name` (the base is not reloaded)."""
        checkpoint = Path(checkpoint)
        if name == BASE or name in self.adapters:
            raise CodesweepError(f"adapter name {name!r} is taken; names: {self.adapters}")
        if not shares_base(checkpoint):
            raise CodesweepError(f"checkpoint {checkpoint}: not a plain LoRA adapter of the base "
                                 "(full model or own tokenizer); score it on its own")
        if hasattr(self.model, "peft_config"):
            self.model.load_adapter(str(checkpoint), adapter_name=name)
        else:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, str(checkpoint), adapter_name=name)
        if _uses_dora(checkpoint):
            self.dora.add(name)
        self.model.eval()

    def generate(self, requests: Sequence[tuple[str, str]], gen: GenerationConfig) -> list[str]:
        """Decode each (adapter name, prompt) request; predictions in the request order."""
        unknown = sorted({name for name, _ in requests} - {BASE, *self.adapters})
        if unknown:
            raise CodesweepError(f"unknown adapter(s) {unknown}; attached: {self.adapters}")
        predictions = [""] * len(requests)  # every index is filled by exactly one batch
        for group in self._groups(requests):
            for batch in self._length_sorted_batches(requests, group, gen.batch_size):
                texts = self._decode_batch([requests[i] for i in batch], gen)
                for index, text in zip(batch, texts, strict=True):
                    predictions[index] = text
        return predictions

    def _groups(self, requests: Sequence[tuple[str, str]]) -> list[list[int]]:
        """Request indices that may share a batch: all non-DoRA rows, then one group per DoRA."""
        mixable = [i for i, (name, _) in enumerate(requests) if name not in self.dora]
        own = [[i for i, (name, _) in enumerate(requests) if name == dora]
               for dora in sorted(self.dora)]
        return [group for group in [mixable, *own] if group]

    def _length_sorted_batches(self, requests: Sequence[tuple[str, str]], group: list[int],
                               batch_size: int) -> list[list[int]]:
        lengths = [len(ids) for ids in self.tokenizer(
            [requests[i][1] for i in group], add_special_tokens=False)["input_ids"]]
        ordered = [index for _, index in sorted(zip(lengths, group, strict=True))]
        return [ordered[s:s + batch_size] for s in range(0, len(ordered), batch_size)]

    @torch.no_grad()
    def _decode_batch(self, rows: list[tuple[str, str]], gen: GenerationConfig) -> list[str]:
        names = [name for name, _ in rows]
        limit = getattr(self.model.config, "max_position_embeddings", 2048) - gen.max_new_tokens
        bodies, tails = healing.split_prompts([prompt for _, prompt in rows], gen, self.model)
        batch = self.tokenizer(bodies, return_tensors="pt", padding=True,
                               truncation=True, max_length=limit, add_special_tokens=False)
        options = healing.generate_options(tails, self.tokenizer, batch["input_ids"].shape[1],
                                           gen)
        output = self._run_generate(batch, names, gen, options)
        new_tokens = output if self.model.config.is_encoder_decoder \
            else output[:, batch["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [cut_at_stop(healing.remove_tail(text, tail), gen.stop)
                for text, tail in zip(texts, tails, strict=True)]

    def _run_generate(self, batch: Any, names: list[str], gen: GenerationConfig,
                      options: dict[str, Any]) -> Any:
        routing: dict[str, Any] = {}
        if names[0] in self.dora:  # a DoRA group holds one adapter: activate it instead
            self.model.set_adapter(names[0])
        elif hasattr(self.model, "peft_config"):
            routing["adapter_names"] = names
        return self.model.generate(
            **batch, **routing, max_new_tokens=gen.max_new_tokens, num_beams=gen.num_beams,
            do_sample=gen.do_sample, temperature=gen.temperature if gen.do_sample else None,
            top_p=None, top_k=None, pad_token_id=self.tokenizer.pad_token_id,
            tokenizer=self.tokenizer, **options,
        )
