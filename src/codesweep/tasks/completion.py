"""`completion`: code completion over sliding windows, by lines or by code tokens.

mode `lines` (CodeXGLUE line-level, the default): for each file, windows of `context_lines`
lines advance by `stride_lines`; the line that follows a window is cut at a seeded point
inside it: the prompt is the window plus the line's head, the completion is the rest of that
line (what a completion model must type).

mode `tokens`: the file is split into code tokens (`languages.code_tokens`); windows of
`window_tokens` advance by `stride_tokens`; in each window the first `prompt_tokens` tokens
are the prompt and the next (up to) `target_tokens` the completion. Whitespace rides on the
token after it, so the completion of a window that ends a line starts with the newline and
indentation.
"""

from __future__ import annotations

import random
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from codesweep.config.loader import validate
from codesweep.drops import KEPT
from codesweep.languages import code_tokens
from codesweep.tasks.rows import dropped, example, to_frame


class CompletionParams(BaseModel):
    """Knobs of the `completion` builder."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["lines", "tokens"] = Field("lines", description="window over lines or tokens")
    context_lines: int = Field(16, ge=1, description="lines of context before the target line")
    stride_lines: int = Field(16, ge=1, description="lines the window advances by")
    min_target_chars: int = Field(4, ge=1, description="skip target lines shorter than this")
    max_examples_per_file: int = Field(8, ge=1, description="cap so big files do not dominate")
    window_tokens: int = Field(128, ge=2, description="tokens mode: window length")
    stride_tokens: int = Field(128, ge=1, description="tokens mode: how far windows advance")
    prompt_tokens: int | None = Field(None, ge=1, description="default: window - target")
    target_tokens: int = Field(32, ge=1, description="tokens mode: completion length")

    @model_validator(mode="after")
    def _fits_window(self) -> CompletionParams:
        if (self.prompt_tokens or 1) + self.target_tokens > self.window_tokens:
            raise ValueError("prompt_tokens + target_tokens must not exceed window_tokens")
        return self


def build_completion(files: pd.DataFrame, params: dict[str, Any], seed: int) -> pd.DataFrame:
    """Build completion examples (and dropped rows) from a batch of prepared files."""
    knobs = validate(CompletionParams, params, "tasks.completion.params")
    cut = _line_examples if knobs.mode == "lines" else _token_examples
    rows = [row for _, file in files.iterrows() for row in cut(file, knobs, seed)]
    return to_frame(rows, [])


def _line_examples(file: pd.Series, knobs: CompletionParams, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(f"{seed}:{file['sha']}")  # per-file seed: batching cannot change output
    lines = file["text"].splitlines(keepends=True)
    if len(lines) <= knobs.context_lines:
        return [dropped(file, "file", "file_too_short")]
    rows: list[dict[str, Any]] = []
    for start in range(0, len(lines) - knobs.context_lines, knobs.stride_lines):
        target_index = start + knobs.context_lines
        target = lines[target_index].rstrip("\n")
        head_len = len(target) - len(target.lstrip())
        if len(target.strip()) < knobs.min_target_chars:
            rows.append(dropped(file, str(target_index), "target_too_short"))
            continue
        cut = rng.randint(head_len, head_len + len(target.strip()) // 2)
        context = "".join(lines[start:target_index])
        rows.append(example(file, str(target_index), context + target[:cut], target[cut:]))
        if len(rows) - _count_dropped(rows) >= knobs.max_examples_per_file:
            break
    return rows


def _token_examples(file: pd.Series, knobs: CompletionParams, seed: int) -> list[dict[str, Any]]:
    tokens = code_tokens(file["text"])
    prompt = knobs.prompt_tokens or knobs.window_tokens - knobs.target_tokens
    if len(tokens) <= prompt:
        return [dropped(file, "file", "file_too_short")]
    rows = []
    for start in range(0, len(tokens) - prompt, knobs.stride_tokens):
        middle = start + prompt  # the completion is up to target_tokens, fewer at the file's end
        rows.append(example(file, f"t{start}", "".join(tokens[start:middle]),
                            "".join(tokens[middle:middle + knobs.target_tokens])))
        if len(rows) >= knobs.max_examples_per_file:
            break
    return rows


def _count_dropped(rows: list[dict[str, Any]]) -> int:
    return sum(row["drop_reason"] != KEPT for row in rows)
