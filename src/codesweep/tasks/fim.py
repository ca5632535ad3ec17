"""`fim`: function-level fill-in-the-middle.

Each function is split into prefix / middle / suffix by masking one body line (`line`), a
block of lines (`lines`), or a random span of whole code tokens (`span`) of the body; the doc
comment, decorators and signature are never masked (everything before `Function.signature_end` stays
in the prefix). The prompt is rendered PSM or SPM with the model family's sentinels and the
completion is the middle followed by the family's end-of-middle token, so a tuned model learns
to stop instead of over-generating.
"""

from __future__ import annotations

import random
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from codesweep.config.loader import validate
from codesweep.languages import code_tokens
from codesweep.tasks.functions import Function, code_lines
from codesweep.tasks.per_function import file_functions, function_key
from codesweep.tasks.rows import dropped, example, file_rng, to_frame


class Sentinels(BaseModel):
    """FIM sentinel strings of one model family."""

    model_config = ConfigDict(extra="forbid")
    prefix: str
    suffix: str
    middle: str
    end: str = Field("", description="end-of-middle token appended to the completion")
    separator: str = Field("", description="text between a sentinel and the code it announces")


SENTINELS = {
    "starcoder": Sentinels(prefix="<fim_prefix>", suffix="<fim_suffix>", middle="<fim_middle>",
                           end="<|endoftext|>"),
    "codellama": Sentinels(prefix="<PRE>", suffix="<SUF>", middle="<MID>", end="<EOT>",
                           separator=" "),
}


class FimParams(BaseModel):
    """Knobs of the `fim` builder."""

    model_config = ConfigDict(extra="forbid")
    mask: Literal["line", "lines", "span", "mixed"] = Field(
        "line", description="what to mask; mixed picks one of the three per example")
    max_mask_lines: int = Field(4, ge=2, description="largest block for mask: lines")
    max_span_chars: int = Field(120, ge=1, description="longest span for mask: span")
    format: Literal["psm", "spm"] = Field("psm", description="prefix-suffix-middle or SPM order")
    sentinels: Literal["starcoder", "codellama"] | Sentinels = "starcoder"
    append_end: bool = Field(True, description="end the completion with the end-of-middle token")
    examples_per_function: int = Field(1, ge=1)
    min_body_lines: int = Field(1, ge=1, description="functions with fewer code lines are dropped")


def build_fim(files: pd.DataFrame, params: dict[str, Any], seed: int) -> pd.DataFrame:
    """Build FIM examples (and dropped rows) from a batch of prepared files."""
    knobs = validate(FimParams, params, "tasks.fim.params")
    rows = [row for _, file in files.iterrows() for row in _file_rows(file, knobs, seed)]
    return to_frame(rows, ["prefix", "middle", "suffix", "mask", "function"])


def _file_rows(file: pd.Series, knobs: FimParams, seed: int) -> list[dict]:
    functions, drop = file_functions(file)
    if drop is not None:
        return [drop]
    rng = file_rng(seed, file["sha"], "fim")
    rows = []
    for function in functions:
        key = function_key(function)
        lines = code_lines(function)
        reason = "abstract" if function.is_abstract else "empty_body" if function.is_empty \
            else "too_short" if len(lines) < knobs.min_body_lines else None
        if reason:
            rows.append(dropped(file, key, reason, function=function.qualname))
            continue
        for index in range(knobs.examples_per_function):
            prefix, middle, suffix, mask = split_function(function, lines, knobs, rng)
            rows.append(example(file, f"{key}:{index}", render_fim(prefix, suffix, knobs),
                                _completion(middle, knobs), prefix=prefix, middle=middle,
                                suffix=suffix, mask=mask, function=function.qualname))
    return rows


def split_function(function: Function, lines: list[tuple[int, int]], knobs: FimParams,
                   rng: random.Random) -> tuple[str, str, str, str]:
    """Choose the masked region; return (prefix, middle, suffix, mask kind)."""
    mask = rng.choice(["line", "lines", "span"]) if knobs.mask == "mixed" else knobs.mask
    if mask == "span":
        start, end = _random_span(function.text, lines, knobs.max_span_chars, rng)
    elif mask == "lines" and len(lines) > 1:
        size = rng.randint(2, min(knobs.max_mask_lines, len(lines)))
        first = rng.randint(0, len(lines) - size)
        start, end = lines[first][0], lines[first + size - 1][1]
    else:
        mask = "line"  # also the fallback of `lines` when the body has a single code line
        start, end = rng.choice(lines)
    text = function.text
    return text[:start], text[start:end], text[end:], mask


def _random_span(text: str, lines: list[tuple[int, int]], max_chars: int,
                 rng: random.Random) -> tuple[int, int]:
    """A span of whole code tokens inside the body's code lines, at most `max_chars` long
    (at least one token): cutting inside an identifier teaches nothing a model will meet."""
    region_start, region_end = lines[0][0], lines[-1][1]
    bounds = [region_start]
    # without trailing whitespace every token ends in code, so no middle is blank
    for token in code_tokens(text[region_start:region_end].rstrip()):
        bounds.append(bounds[-1] + len(token))
    first = rng.randrange(len(bounds) - 1)
    reachable = [end for end in bounds[first + 1:] if end - bounds[first] <= max_chars]
    return bounds[first], rng.choice(reachable or [bounds[first + 1]])


def render_fim(prefix: str, suffix: str, knobs: FimParams) -> str:
    """PSM: P·prefix·S·suffix·M ; SPM: P·S·suffix·M·prefix (prefix and middle stay adjacent)."""
    s = knobs.sentinels if isinstance(knobs.sentinels, Sentinels) else SENTINELS[knobs.sentinels]
    gap = s.separator
    if knobs.format == "psm":
        return f"{s.prefix}{gap}{prefix}{gap}{s.suffix}{suffix}{gap}{s.middle}"
    return f"{s.prefix}{gap}{s.suffix}{suffix}{gap}{s.middle}{gap}{prefix}"


def _completion(middle: str, knobs: FimParams) -> str:
    s = knobs.sentinels if isinstance(knobs.sentinels, Sentinels) else SENTINELS[knobs.sentinels]
    return middle + s.end if knobs.append_end else middle
