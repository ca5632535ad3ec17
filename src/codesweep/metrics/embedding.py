"""embedding_cosine: cosine similarity of mean-pooled last hidden states of a model."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from codesweep.errors import CodesweepError
from codesweep.metrics.registry import Score, ScoreContext, metric

BATCH_SIZE = 32


@functools.lru_cache(maxsize=2)
def _load(model_path: str) -> tuple[Any, Any]:
    """Model and tokenizer from a local path (cached: the evaluator scores many batches)."""
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModel.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise CodesweepError(
            f"embedding_cosine: cannot load a model from {model_path}: {exc}"
        ) from None
    if tokenizer.pad_token is None:  # decoder-only tokenizers often have none
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return model.eval(), tokenizer


def _embed(texts: Sequence[str], model: Any, tokenizer: Any) -> Any:
    """Mean of the last hidden states over real (non-padding) tokens, one row per text."""
    import torch

    rows = []
    for start in range(0, len(texts), BATCH_SIZE):
        batch = tokenizer(
            list(texts[start : start + BATCH_SIZE]), padding=True, truncation=True,
            return_tensors="pt",
        )
        batch.pop("token_type_ids", None)
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        rows.append((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))
    return torch.cat(rows).float()


@metric("embedding_cosine", "cosine of mean-pooled last hidden states of --model, mean x100")
def embedding_cosine(
    predictions: Sequence[str], references: Sequence[str], context: ScoreContext
) -> Score:
    """Needs `model_path`: the checkpoint under evaluation or any local model directory."""
    import torch

    if context.model_path is None:
        raise CodesweepError("embedding_cosine needs a model: pass model_path (--model DIR)")
    if not predictions:
        return Score(0.0, [])
    model, tokenizer = _load(str(context.model_path))
    cosine = torch.nn.functional.cosine_similarity(
        _embed(predictions, model, tokenizer), _embed(references, model, tokenizer), dim=-1
    )
    per_example = (100.0 * cosine).tolist()
    return Score(sum(per_example) / len(per_example), per_example)
