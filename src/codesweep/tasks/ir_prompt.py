"""IR variants for the structure-aware experiment, shared by the builders that support them.

    A: prompt -> code                    (no IR)
    B: prompt + IR text -> code          (IR as plain text, tokenized like any text)
    C: B, with every IR token added to the tokenizer as one new token
    signature_ir: B's format, but the IR of the signature and docstring only (body emptied)
B and C show the IR of the solution itself, body included: an oracle ablation (what the
answer's structure is worth), not something a user has at inference time. `signature_ir`
builds its IR from `ir.signature.signature_stub`, so it is the non-oracle counterpart of B.
B and C produce identical examples; C differs only in the model: training adds
`recipe_tokens(data)` (= `variant_tokens(params)`) to the tokenizer (see
`codesweep.models.vocab`). The IR is put in line comments before the code prompt, so a Python
prompt stays an executable program.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from codesweep.config.loader import validate
from codesweep.config.schema import DataConfig
from codesweep.ir.ast import serialize_ast
from codesweep.ir.cfg import build_cfg
from codesweep.ir.signature import signature_stub
from codesweep.ir.vocabulary import ast_vocabulary, cfg_vocabulary
from codesweep.tasks.templates import line_comment


class IRParams(BaseModel):
    """Which IR variant to build and how to serialize the IR."""

    model_config = ConfigDict(extra="forbid")
    variant: Literal["A", "B", "C", "signature_ir"] = Field(
        "A", description="A: no IR; B: IR text; C: IR tokens (B and C: IR of the solution, an "
        "oracle); signature_ir: IR text of the signature and docstring only")
    kinds: list[Literal["ast", "cfg"]] = Field(["ast", "cfg"], description="IRs to include")
    ast_format: Literal["sexp", "types"] = "sexp"
    max_ast_tokens: int = Field(256, ge=8, description="AST length cap, in IR tokens")
    max_cfg_blocks: int = Field(32, ge=1, description="CFG blocks kept (Python only)")
    languages: list[Literal["python", "kotlin", "java"]] = Field(
        ["python"], description="languages whose AST tokens variant C adds")


def ir_text(code: str, language: str, params: IRParams, name: str | None = None) -> str:
    """The IR of the function in `code` (or the Python function `name`), one
    `<comment> KIND: tokens` line per IR kind; '' for variant A."""
    if params.variant == "A":
        return ""
    if params.variant == "signature_ir":  # never the body: only what a user has before writing
        code = signature_stub(code, language, name)
    comment = line_comment(language)
    lines = []
    if "ast" in params.kinds:
        ast_ir = serialize_ast(code, language, params.ast_format, params.max_ast_tokens, name)
        lines.append(f"{comment} AST: {ast_ir}")
    if "cfg" in params.kinds and language == "python":
        graph = build_cfg(code, name)
        if graph is not None:
            lines.append(f"{comment} CFG: {' '.join(graph.to_tokens(params.max_cfg_blocks))}")
    return "".join(f"{line}\n" for line in lines)


def recipe_tokens(data: DataConfig) -> list[str]:
    """The tokens a recipe's `data:` section adds to the tokenizer: IR variant C's vocabulary
    (for its `ir:` params), none otherwise."""
    if data.ir_variant != "C":
        return []
    return variant_tokens({**data.ir, "variant": "C"})


def variant_tokens(params: IRParams | dict[str, Any]) -> list[str]:
    """The tokens variant C adds to the tokenizer (sorted); [] for variants A and B."""
    if isinstance(params, dict):
        params = validate(IRParams, params, "ir")
    if params.variant != "C":
        return []
    tokens = set()
    if "ast" in params.kinds:
        tokens.update(ast_vocabulary(list(params.languages)))
    if "cfg" in params.kinds:
        tokens.update(cfg_vocabulary(params.max_cfg_blocks))
    return sorted(tokens)
