"""`completion`: code completion over sliding windows, by lines or by code tokens.

mode `lines` (CodeXGLUE line-level, the default): for each file, windows of `context_lines`
lines advance by `stride_lines`; the line that follows a window is cut at a seeded point
inside it: the prompt is the window plus the line's head, the completion is the rest of that
line (what a completion model must type), cut between code tokens, never inside an
identifier or keyword.

mode `tokens`: the file is split into code tokens (`languages.code_tokens`); windows of
`window_tokens` advance by `stride_tokens`; in each window the first `prompt_tokens` tokens
are the prompt and the next (up to) `target_tokens` the completion. Whitespace rides on the
token after it, so the completion of a window that ends a line starts with the newline and
indentation. Windows cover the whole file unless `max_examples_per_file` caps them; capped
windows and targets with nothing visible to type are dropped rows (`file_cap`,
`blank_target`), so the manifest says how much of each split the examples use.
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

LINES_CAP = 8  # default max_examples_per_file in lines mode


class CompletionParams(BaseModel):
    """Knobs of the `completion` builder."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["lines", "tokens"] = Field("lines", description="window over lines or tokens")
    context_lines: int = Field(16, ge=1, description="lines of context before the target line")
    stride_lines: int = Field(16, ge=1, description="lines the window advances by")
    min_target_chars: int = Field(4, ge=1, description="skip target lines shorter than this")
    max_examples_per_file: int | None = Field(
        None, ge=1, description="cap so big files do not dominate; default 8 in lines mode, none "
                                "in tokens mode (every window of every file); windows past the "
                                "cap are counted as file_cap")
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
    cap = knobs.max_examples_per_file or LINES_CAP
    for start in range(0, len(lines) - knobs.context_lines, knobs.stride_lines):
        target_index = start + knobs.context_lines
        target = lines[target_index].rstrip("\n")
        if len(target.strip()) < knobs.min_target_chars:
            rows.append(dropped(file, str(target_index), "target_too_short"))
            continue
        if len(rows) - _count_dropped(rows) >= cap:
            rows.append(dropped(file, str(target_index), "file_cap"))
            continue
        cut = rng.choice(token_cuts(target))
        context = "".join(lines[start:target_index])
        rows.append(_window(file, str(target_index), context + target[:cut], target[cut:]))
    return rows


def token_cuts(line: str) -> list[int]:
    """Where a target line may be cut: before or after a code token, never inside one, from
    the indentation up to half the code (CodeXGLUE cuts between tokens too)."""
    code = line.strip()
    head = len(line) - len(line.lstrip())
    cuts, position = set(), 0
    for token in code_tokens(line):
        cuts.add(position + len(token) - len(token.lstrip()))  # where its code starts
        position += len(token)
        cuts.add(position)
    return sorted(cut for cut in cuts if head <= cut <= head + len(code) // 2)


def _window(file: pd.Series, key: str, prompt: str, completion: str) -> dict[str, Any]:
    """A completion example, or a `blank_target` drop when nothing visible is left to type."""
    if not completion.strip():
        return dropped(file, key, "blank_target")
    return example(file, key, prompt, completion)


def _token_examples(file: pd.Series, knobs: CompletionParams, seed: int) -> list[dict[str, Any]]:
    tokens = code_tokens(file["text"])
    prompt = knobs.prompt_tokens or knobs.window_tokens - knobs.target_tokens
    if len(tokens) <= prompt:
        return [dropped(file, "file", "file_too_short")]
    rows: list[dict[str, Any]] = []
    for start in range(0, len(tokens) - prompt, knobs.stride_tokens):
        if knobs.max_examples_per_file and len(rows) - _count_dropped(rows) \
                >= knobs.max_examples_per_file:
            rows.append(dropped(file, f"t{start}", "file_cap"))
            continue
        middle = start + prompt  # the completion is up to target_tokens, fewer at the file's end
        rows.append(_window(file, f"t{start}", "".join(tokens[start:middle]),
                            "".join(tokens[middle:middle + knobs.target_tokens])))
    return rows


def _count_dropped(rows: list[dict[str, Any]]) -> int:
    return sum(row["drop_reason"] != KEPT for row in rows)
