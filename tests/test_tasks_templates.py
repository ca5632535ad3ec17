"""Prompt templates: raw, alpaca instruction, and a local tokenizer's chat template."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesweep.errors import CodesweepError
from codesweep.tasks.registry import get_builder
from codesweep.tasks.templates import TemplateParams, render_prompt

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def save_tokenizer(directory: Path, chat_template: str | None) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.train_from_iterator(["def f(x): return x"], trainers.BpeTrainer(vocab_size=60))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="</s>")
    tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(directory)
    return str(directory)


def test_raw_and_instruction() -> None:
    assert render_prompt(TemplateParams(), "Do it.", "code\n") == "code\n"
    with_system = TemplateParams(kind="instruction", system="Sys.")
    assert render_prompt(with_system, "Do it.", "code\n") == (
        "Sys.\n\n### Instruction:\nDo it.\n\n### Input:\ncode\n\n### Response:\n")
    assert render_prompt(TemplateParams(kind="instruction"), "Do it.", "") == (
        "### Instruction:\nDo it.\n\n### Response:\n")


def test_chat_template_where_the_tokenizer_has_one(tmp_path: Path) -> None:
    path = save_tokenizer(tmp_path / "chat", CHAT_TEMPLATE)
    template = TemplateParams(kind="chat", system="Sys.", tokenizer=path)
    assert render_prompt(template, "Do it.", "code") == (
        "<|system|>Sys.\n<|user|>Do it.\n\ncode\n<|assistant|>")


def test_chat_falls_back_to_instruction_without_a_template(tmp_path: Path) -> None:
    path = save_tokenizer(tmp_path / "plain", None)
    template = TemplateParams(kind="chat", tokenizer=path)
    assert render_prompt(template, "Do it.", "code").startswith("### Instruction:\nDo it.")


def test_chat_without_tokenizer_is_a_recipe_error() -> None:
    with pytest.raises(CodesweepError, match="template: kind: chat needs template.tokenizer"):
        get_builder("text_to_code")(None, {"template": {"kind": "chat"}}, 0)
