"""QLoRA / 8-bit: the bitsandbytes config a recipe asks for, and the checks it needs first.

4-bit is QLoRA as published: NF4 weights, double quantization (the per-block constants are
quantized too, ~0.4 bit/param saved) and bf16 compute. bitsandbytes kernels are CUDA-only,
so a quantized recipe on a machine without a GPU is a one-line error, not a crash deep in
`from_pretrained`.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from codesweep.config.schema import QuantizationConfig
from codesweep.errors import CodesweepError


def check_quantization_support(quant: QuantizationConfig) -> None:
    """Raise a CodesweepError unless this machine can load the base with `quant.bits` bits."""
    import torch

    if not quant.bits:
        return
    if not torch.cuda.is_available():
        raise CodesweepError(f"model.quantization.bits={quant.bits} needs a CUDA GPU; "
                             "allowed on CPU: 0 (no quantization)")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise CodesweepError(f"model.quantization.bits={quant.bits} needs bitsandbytes: "
                             "pip install 'codesweep[gpu]'")


def bnb_config(quant: QuantizationConfig) -> Any:
    """The transformers BitsAndBytesConfig for `quant`, or None when bits is 0."""
    import torch
    from transformers import BitsAndBytesConfig

    if quant.bits == 4:
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=quant.quant_type,
            bnb_4bit_use_double_quant=quant.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, quant.compute_dtype),
        )
    if quant.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def prepare_for_kbit_training(model: Any) -> Any:
    """PEFT's k-bit preparation: norms in fp32, quantized weights frozen. Activation
    checkpointing is left to the caller (PEFT would call the API transformers deprecates)."""
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
