"""Prompt templates: raw completion, alpaca-style instruction, or the tokenizer's chat template.

A builder hands over an `instruction` (what to do) and a `context` (the code or text to do it
on). `raw` returns the context alone, for completion-style training; `instruction` wraps both
in the alpaca layout with an optional system line; `chat` renders the messages with the chat
template of the tokenizer named in `tokenizer`, and falls back to `instruction` when that
tokenizer has none (base models usually do not).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ALPACA_WITH_INPUT = "### Instruction:\n{instruction}\n\n### Input:\n{context}\n\n### Response:\n"
ALPACA_WITHOUT_INPUT = "### Instruction:\n{instruction}\n\n### Response:\n"


class TemplateParams(BaseModel):
    """How a builder turns (instruction, context) into the prompt text."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["raw", "instruction", "chat"] = Field(
        "raw", description="raw: context only; instruction: alpaca; chat: tokenizer's template")
    system: str | None = Field(None, description="system prompt (instruction and chat kinds)")
    tokenizer: str | None = Field(None, description="tokenizer path or hub id, for kind: chat")

    @model_validator(mode="after")
    def _chat_needs_tokenizer(self) -> TemplateParams:
        if self.kind == "chat" and not self.tokenizer:
            raise ValueError("kind: chat needs template.tokenizer (a path or hub id)")
        return self


def render_prompt(template: TemplateParams, instruction: str, context: str) -> str:
    """The prompt for one example under `template`."""
    if template.kind == "raw":
        return context
    if template.kind == "chat":
        tokenizer = load_tokenizer(template.tokenizer or "")
        if getattr(tokenizer, "chat_template", None):
            return chat_prompt(tokenizer, template.system, f"{instruction}\n\n{context}".strip())
    return alpaca_prompt(template.system, instruction, context)


def alpaca_prompt(system: str | None, instruction: str, context: str) -> str:
    """Alpaca layout: optional system line, `### Instruction`, `### Input`, `### Response`."""
    layout = ALPACA_WITH_INPUT if context else ALPACA_WITHOUT_INPUT
    body = layout.format(instruction=instruction, context=context.rstrip("\n"))
    return f"{system}\n\n{body}" if system else body


def chat_prompt(tokenizer: Any, system: str | None, user: str) -> str:
    """Render system + user messages with the tokenizer's chat template, ready for the reply."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@lru_cache(maxsize=4)
def load_tokenizer(name_or_path: str) -> Any:
    """Load (once per process) the tokenizer whose chat template renders `chat` prompts."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path)


def line_comment(language: str) -> str:
    """The line-comment marker of `language`, for raw prompts that carry text as comments."""
    return "#" if language == "python" else "//"
