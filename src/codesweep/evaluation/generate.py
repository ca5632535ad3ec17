"""Load a checkpoint (base model, optionally with a LoRA adapter) and generate in batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from codesweep.config.schema import GenerationConfig
from codesweep.evaluation import healing


def load_for_generation(base_path: str, adapter_path: str | None, dtype: str = "auto") -> Any:
    """The base model, or a trained checkpoint with its adapter merged in (faster decoding).
    Either may be a directory in storage: this process loads its own node's copy."""
    from codesweep.models.adapters import load_trained
    from codesweep.models.factory import load_base_model, load_tokenizer
    from codesweep.storage import fetched

    base_path, adapter_path = str(fetched(base_path)), fetched(adapter_path)

    if adapter_path:
        model, tokenizer = load_trained(base_path, Path(adapter_path), dtype)
        if hasattr(model, "peft_config"):
            model = model.merge_and_unload()
    else:
        model, tokenizer = load_base_model(base_path, dtype), load_tokenizer(base_path)
    model.eval()
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
        # Whitespace healing (when on): prompts lose their trailing whitespace, the model
        # spells it back, and it is removed from the predictions again.
        bodies, tails = healing.split_prompts(prompts[start:start + gen.batch_size], gen, model)
        batch = tokenizer(bodies, return_tensors="pt", padding=True, truncation=True,
                          max_length=limit, add_special_tokens=False)
        output = model.generate(
            **batch, max_new_tokens=gen.max_new_tokens, num_beams=gen.num_beams,
            do_sample=gen.do_sample, temperature=gen.temperature if gen.do_sample else None,
            top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id, tokenizer=tokenizer,
            **healing.generate_options(tails, tokenizer, batch["input_ids"].shape[1], gen),
        )
        # A decoder-only model echoes the prompt; an encoder-decoder's output is all new.
        new_tokens = output if model.config.is_encoder_decoder \
            else output[:, batch["input_ids"].shape[1]:]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        predictions.extend(cut_at_stop(healing.remove_tail(text, tail), gen.stop)
                           for text, tail in zip(texts, tails, strict=True))
    return predictions
