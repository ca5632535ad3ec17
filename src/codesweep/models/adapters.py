"""The model a training run optimizes: base (optionally quantized) + LoRA/DoRA adapter, or
all weights for a full fine-tune; plus loading a trained checkpoint back for export.

A run may add tokens to the tokenizer first (IR variant C adds its IR vocabulary; the caller
says which) and trains their embedding rows next to the adapter (`codesweep.models.vocab`);
such checkpoints therefore carry the tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codesweep.config.schema import TuningRecipe
from codesweep.models.factory import load_base_model, load_tokenizer
from codesweep.models.vocab import add_tokens, with_trainable_tokens


def peft_lora_config(recipe: TuningRecipe, seq2seq: bool) -> Any:
    """PEFT LoraConfig from the recipe's `lora:` section."""
    from peft import LoraConfig

    lora = recipe.lora
    return LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=lora.target_modules, bias=lora.bias, use_dora=lora.use_dora,
        task_type="SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM",
    )


def load_for_training(base_path: str, recipe: TuningRecipe, new_tokens: Sequence[str] = (),
                      device_map: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) ready to train: quantized base prepared for k-bit training,
    `new_tokens` added (their embedding rows train), gradient checkpointing on when asked,
    LoRA attached unless method is full."""
    from codesweep.models.quantization import (
        bnb_config,
        check_quantization_support,
        prepare_for_kbit_training,
    )

    model_cfg = recipe.model
    check_quantization_support(model_cfg.quantization)
    extra: dict[str, Any] = {}
    if model_cfg.quantization.bits:
        extra = {"quantization_config": bnb_config(model_cfg.quantization),
                 "device_map": device_map}
    tokenizer = load_tokenizer(base_path)
    model = load_base_model(base_path, model_cfg.dtype,
                            attn_implementation=model_cfg.attn_implementation, **extra)
    new_ids = add_tokens(tokenizer, model, list(new_tokens)) if new_tokens else []
    if model_cfg.quantization.bits:
        model = prepare_for_kbit_training(model)
    if model_cfg.gradient_checkpointing:
        enable_activation_checkpointing(model)
        model.config.use_cache = False  # the KV cache is useless in training and conflicts
    if recipe.train.method == "lora":
        model = _attach_lora(model, recipe, new_ids)
    model.train()
    return model, tokenizer


def enable_activation_checkpointing(model: Any) -> None:
    """Recompute activations in the backward pass (non-reentrant: frozen inputs need no grad).

    transformers 5 renamed `gradient_checkpointing_enable` (removed in 6); older releases
    only have the old name.
    """
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def _attach_lora(model: Any, recipe: TuningRecipe, new_ids: list[int]) -> Any:
    from peft import get_peft_model

    seq2seq = bool(model.config.is_encoder_decoder)
    config = with_trainable_tokens(peft_lora_config(recipe, seq2seq), new_ids)
    return get_peft_model(model, config)


def is_full_checkpoint(checkpoint: Path) -> bool:
    """A full fine-tune's checkpoint holds a whole model; a LoRA one holds an adapter."""
    return (checkpoint / "config.json").is_file() and not (
        checkpoint / "adapter_config.json").is_file()


def load_trained(base_path: str, checkpoint: Path, dtype: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) of a trained checkpoint: a PeftModel over the base, or the full model.

    A checkpoint that carries its own tokenizer (IR variant C) grows the base's embeddings to
    it before the adapter's token rows are applied.
    """
    tokenizer_src = checkpoint if (checkpoint / "tokenizer_config.json").is_file() else base_path
    tokenizer = load_tokenizer(tokenizer_src)
    if is_full_checkpoint(checkpoint):
        return load_base_model(checkpoint, dtype), tokenizer
    from peft import PeftModel

    model = load_base_model(base_path, dtype)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    return PeftModel.from_pretrained(model, str(checkpoint)), tokenizer

