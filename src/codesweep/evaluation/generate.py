"""Load a checkpoint (base model, optionally with a LoRA adapter) and generate in batches."""

from __future__ import annotations

from typing import Any

import torch

from codesweep.config.schema import GenerationConfig


def load_for_generation(base_path: str, adapter_path: str | None, dtype: str = "auto") -> Any:
    """The base model, with the adapter merged in when given (merging makes decoding faster)."""
    from codesweep.models.factory import load_base_model, load_tokenizer

    model = load_base_model(base_path, dtype)
    if adapter_path:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_path).merge_and_unload()
    model.eval()
    tokenizer = load_tokenizer(base_path)
    tokenizer.padding_side = "left"  # decoder-only batching: pad on the left, generate on the right
    tokenizer.truncation_side = "left"  # keep the end of long prompts: it is what is completed
    return model, tokenizer


def cut_at_stop(text: str, stops: list[str]) -> str:
    """Everything before the first stop string (the whole text when none occurs)."""
    cut = min((text.find(stop) for stop in stops if stop and stop in text), default=len(text))
    return text[:cut]


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompts: list[str], gen: GenerationConfig) -> list[str]:
    """Decode each prompt's continuation, stopping at `gen.stop` strings."""
    limit = getattr(model.config, "max_position_embeddings", 2048) - gen.max_new_tokens
    predictions: list[str] = []
    for start in range(0, len(prompts), gen.batch_size):
        batch = tokenizer(prompts[start:start + gen.batch_size], return_tensors="pt",
                          padding=True, truncation=True, max_length=limit,
                          add_special_tokens=False)
        output = model.generate(
            **batch, max_new_tokens=gen.max_new_tokens, num_beams=gen.num_beams,
            do_sample=gen.do_sample, temperature=gen.temperature if gen.do_sample else None,
            top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id,
            stop_strings=gen.stop or None, tokenizer=tokenizer,
        )
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        predictions.extend(cut_at_stop(text, gen.stop) for text in texts)
    return predictions
