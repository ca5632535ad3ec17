"""Whitespace healing: prompts lose their trailing whitespace, the model spells it back."""

from __future__ import annotations

from pathlib import Path

import torch
from eval_support import make_base

from codesweep.config.schema import GenerationConfig
from codesweep.evaluation.generate import generate, load_for_generation
from codesweep.evaluation.healing import WhitespaceHealing, generate_options, split_prompts

TEXTS = ["a", " ", "  ", " b", "\n", "   x", "\n   "]


def allowed(tail: str, spelled: list[int]) -> set[str]:
    healing = WhitespaceHealing([tail], TEXTS, prompt_length=1)
    ids = torch.tensor([[0, *spelled]])
    scores = healing(ids, torch.zeros(1, len(TEXTS)))
    return {TEXTS[i] for i in range(len(TEXTS)) if scores[0, i] > float("-inf")}


def test_only_tokens_that_agree_with_the_rest_of_the_whitespace_are_allowed() -> None:
    assert allowed("  ", []) == {" ", "  ", "   x"}
    assert allowed("  ", [1]) == {" ", "  ", " b", "   x"}  # one space left
    assert allowed("  ", [2]) == set(TEXTS)  # spelled: no constraint any more
    assert allowed("\n   ", []) == {"\n", "\n   "}


def test_prompts_keep_their_text_and_lose_only_trailing_whitespace(tmp_path: Path) -> None:
    base, _ = make_base(tmp_path)
    model, _ = load_for_generation(str(base), None, "float32")
    gen = GenerationConfig(heal_whitespace=True)
    assert split_prompts(["x = ", "if a:\n    ", "f(x)"], gen, model) == (
        ["x =", "if a:", "f(x)"], [" ", "\n    ", ""])
    off = gen.model_copy(update={"heal_whitespace": False})
    assert split_prompts(["x = "], off, model) == (["x = "], [""])


def test_healed_generation_spells_the_whitespace_back_first(tmp_path: Path) -> None:
    base, texts = make_base(tmp_path)
    model, tokenizer = load_for_generation(str(base), None, "float32")
    prompts = [text[:200].rstrip() + tail
               for text, tail in zip(texts[:3], [" ", "\n    ", "  "], strict=True)]
    gen = GenerationConfig(max_new_tokens=8, heal_whitespace=True, stop=["\n"])
    bodies, tails = split_prompts(prompts, gen, model)
    batch = tokenizer(bodies, return_tensors="pt", padding=True, add_special_tokens=False)
    options = generate_options(tails, tokenizer, batch["input_ids"].shape[1], gen)
    assert options["stop_strings"] is None  # a healed newline must not end its row
    output = model.generate(**batch, max_new_tokens=8, do_sample=False, tokenizer=tokenizer,
                            pad_token_id=tokenizer.pad_token_id, **options)
    new = tokenizer.batch_decode(output[:, batch["input_ids"].shape[1]:])
    assert all(text.startswith(tail) for text, tail in zip(new, tails, strict=True)), new
    # The predictions then start where the prompts ended, and stop at the end of the line.
    predictions = generate(model, tokenizer, prompts, gen)
    assert all("\n" not in prediction for prediction in predictions)


def test_the_vocabulary_is_decoded_once_per_tokenizer_not_per_batch() -> None:
    class Counting:  # a tokenizer that counts its single-token decodes
        decodes = 0

        def __len__(self) -> int:
            return len(TEXTS)

        def decode(self, ids: list[int]) -> str:
            Counting.decodes += 1
            return TEXTS[ids[0]]

    tokenizer, gen = Counting(), GenerationConfig(heal_whitespace=True)
    for _ in range(3):  # three batches of one evaluation
        options = generate_options([" ", ""], tokenizer, 4, gen)
    assert Counting.decodes == len(TEXTS)
    assert options["logits_processor"][0].texts == TEXTS
