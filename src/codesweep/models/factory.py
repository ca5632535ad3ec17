"""Build, cache and load base models.

`model.name_or_path` names a hub id or a local directory (the real-cluster path). When it is
null, the embedded default is built from the pieces here: a byte-level BPE tokenizer trained
on the train split with `tokenizers` and a small Llama (or T5) from a config; pre-training and
caching it is training's job (`codesweep.train.pretrain.ensure_tiny_base`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codesweep.config.schema import TinyModelConfig
from codesweep.errors import CodesweepError
from codesweep.fileio import write_atomic

EOS, PAD = "<|endoftext|>", "<|pad|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """Fit a byte-level BPE (lossless on whitespace, as code needs) and wrap it for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token=EOS, bos_token=EOS, pad_token=PAD, unk_token=None,
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(cfg: TinyModelConfig, tokenizer: Any) -> Any:
    """A Llama-architecture causal LM built from a config (no weights downloaded)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_position_embeddings,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def build_tiny_seq2seq(cfg: TinyModelConfig, tokenizer: Any) -> Any:
    """A T5-architecture encoder-decoder (CodeT5-style) built from a config."""
    from transformers import T5Config, T5ForConditionalGeneration

    # Generic config keys: T5Config takes them through PretrainedConfig's **kwargs.
    generic: dict[str, Any] = {"tie_word_embeddings": True,
                               "decoder_start_token_id": tokenizer.pad_token_id}
    config = T5Config(
        vocab_size=len(tokenizer), d_model=cfg.hidden_size, d_kv=cfg.hidden_size // cfg.num_heads,
        d_ff=cfg.intermediate_size, num_layers=cfg.num_layers, num_heads=cfg.num_heads,
        feed_forward_proj="gated-gelu", pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, **generic,
    )
    return T5ForConditionalGeneration(config)


def save_atomically(model: Any, tokenizer: Any, target: Path) -> None:
    """save_pretrained into a temporary sibling, then rename: a crash leaves no half model."""
    def save(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    write_atomic(target, save)


def resolve_dtype(name: str) -> Any:
    """`auto`: bf16 on GPUs that support it, else fp16 on GPU, fp32 on CPU."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_tokenizer(name_or_path: str | Path) -> Any:
    """Load a tokenizer and give it a pad token (decoder-only models often lack one)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    except (OSError, ValueError) as exc:  # ValueError: a directory with no tokenizer files
        raise CodesweepError(f"model.name_or_path: cannot load a tokenizer from {name_or_path!r}: "
                             f"{str(exc).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def check_loadable(name_or_path: str) -> None:
    """Fail before any training starts when a hub id or directory has no model config."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise CodesweepError(f"model.name_or_path: cannot load {name_or_path!r}: "
                             f"{str(exc).splitlines()[0]}") from None


def resolve_attention(name: str, dtype: Any) -> str:
    """`auto`: flash_attention_2 when installed on a GPU with a half dtype, else sdpa."""
    import importlib.util

    import torch

    if name != "auto":
        if name == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
            raise CodesweepError("model.attn_implementation: flash_attention_2 needs the "
                                 "flash-attn package; allowed without it: auto, sdpa, eager")
        return name
    half = dtype in (torch.bfloat16, torch.float16)
    if half and torch.cuda.is_available() and importlib.util.find_spec("flash_attn"):
        return "flash_attention_2"
    return "sdpa"


def is_seq2seq(name_or_path: str | Path) -> bool:
    """True for encoder-decoder models (T5/CodeT5 family), False for causal LMs."""
    from transformers import AutoConfig

    try:
        return bool(AutoConfig.from_pretrained(str(name_or_path)).is_encoder_decoder)
    except OSError as exc:
        raise CodesweepError(
            f"model.name_or_path: cannot load {name_or_path!r}: {str(exc).splitlines()[0]}"
        ) from None


def load_base_model(name_or_path: str | Path, dtype: str = "auto", *,
                    attn_implementation: str = "auto", **kwargs: Any) -> Any:
    """Load a causal LM or an encoder-decoder (chosen by its config) from a hub id or a local
    directory, with a clear error when missing. `kwargs` go to `from_pretrained`
    (e.g. `quantization_config`, `device_map`)."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    auto = AutoModelForSeq2SeqLM if is_seq2seq(name_or_path) else AutoModelForCausalLM
    torch_dtype = resolve_dtype(dtype)
    try:
        return auto.from_pretrained(
            str(name_or_path), dtype=torch_dtype,
            attn_implementation=resolve_attention(attn_implementation, torch_dtype), **kwargs)
    except OSError as exc:
        raise CodesweepError(
            f"model.name_or_path: cannot load {name_or_path!r}: {str(exc).splitlines()[0]}"
        ) from None

