"""IR variant C: add the IR tokens to the tokenizer and make only their embeddings trainable.

    new_ids = add_tokens(tokenizer, model, tokens)  # e.g. tasks.ir_prompt.recipe_tokens(data)
    lora = with_trainable_tokens(LoraConfig(r=16, target_modules=[...]), new_ids)
    model = peft.get_peft_model(model, lora)

Why PEFT's `trainable_token_indices` rather than `modules_to_save=["embed_tokens"]`: the
latter copies and trains the whole embedding matrix, so the pre-trained rows drift and every
checkpoint stores vocab x hidden floats; trainable tokens train a delta for the listed rows
only (the old rows stay bit-identical), checkpoints store just those rows, and PEFT applies
the same delta to a tied output layer. New rows start from `resize_token_embeddings`'s
mean-of-old-embeddings initialisation, which trains faster than random rows.
"""

from __future__ import annotations

from typing import Any


def add_tokens(tokenizer: Any, model: Any, tokens: list[str], leading_space: bool = True
               ) -> list[int]:
    """Add the tokens the tokenizer lacks and return their ids, in the order of `tokens`.

    With `leading_space` each token is added as " <tok>": IR text always puts a space before
    an IR token, and a byte-level BPE would otherwise spend a second token on that space.

    The embeddings grow by exactly the number of added tokens; a model whose matrix is
    already padded past the tokenizer (Phi, for one) reuses its unused rows instead of
    growing, since shrinking it to the tokenizer would drop trained rows.
    """
    from tokenizers import AddedToken

    vocabulary = tokenizer.get_vocab()
    spelled = [f" {t}" if leading_space else t for t in tokens]
    missing = list(dict.fromkeys(t for t in spelled if t not in vocabulary))
    if not missing:
        return []
    rows = model.get_input_embeddings().weight.shape[0]
    # normalized=False: IR tokens must match verbatim, whatever the tokenizer's normalizer does
    tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in missing])
    if len(tokenizer) > rows:
        model.resize_token_embeddings(len(tokenizer))
    return tokenizer.convert_tokens_to_ids(missing)


def with_trainable_tokens(lora_config: Any, token_ids: list[int]) -> Any:
    """The LoRA config with the embedding rows of `token_ids` trainable next to the adapters."""
    if token_ids:
        lora_config.trainable_token_indices = list(token_ids)
    return lora_config
