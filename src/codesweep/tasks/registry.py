"""Name -> task builder. Each builder is `build(files, params, seed) -> examples`.

`files` is a pandas DataFrame of prepared files (columns: repo, revision, path, language,
text, sha, split); the result is a DataFrame with at least `id`, `split`, `prompt`,
`completion`. Builders are deterministic per file (randomness seeded from `seed` and the
file's sha), so the output does not depend on how Ray Data batches the files.
Entries are lazy `"module:function"` targets of a `codesweep.registry.Registry`, so a recipe
naming one builder does not import them all; add one with `BUILDERS.add(name, target)`.

Counting convention (for the manifest): a builder returns kept *and* dropped rows in one
frame. Column `drop_reason` is "" for a kept example and a short reason for a dropped unit
(`no_functions`, `unsupported_language`, `abstract`, `empty_body`, `too_short`,
`super_only`, `label_leak`, ...: one row per dropped file or function, with id, split, repo,
path and empty prompt/completion). Columns `n_prompt_tokens` / `n_completion_tokens` hold
code-token lengths (`codesweep.languages`). The pipeline therefore
  1. counts per split and reason from `tasks.manifest.count_projection(frame)` (text-free,
     cheap to collect from every batch) and `tasks.manifest.summarize(all_projections)`;
  2. writes only `frame[frame.drop_reason == ""]` as the task's examples.
Every builder also accepts an empty `files` frame and returns its full column set.
HumanEval-derived benchmarks are not builders (they do not read the corpus): see
`evaluation.benchmarks.load_benchmark`. IR variant C's token list: `tasks.ir_prompt.variant_tokens`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from codesweep.registry import Registry

Builder = Callable[[pd.DataFrame, dict[str, Any], int], pd.DataFrame]

BUILDERS: Registry[Builder] = Registry("task builder")
BUILDERS.add("completion", "codesweep.tasks.completion:build_completion")
BUILDERS.add("fim", "codesweep.tasks.fim:build_fim")
BUILDERS.add("method_generation", "codesweep.tasks.method_generation:build_method_generation")
BUILDERS.add("text_to_code", "codesweep.tasks.text_to_code:build_text_to_code")
BUILDERS.add("function_naming", "codesweep.tasks.function_naming:build_function_naming")


# Builders that read files as lines and never parse them into functions. Prepare counts
# files per extraction status (complete / partial / failed: a parse that lost functions)
# only when a recipe has another builder; parsing every file cost about 2.4 CPU seconds on
# the standard library, a quarter of the read pass, for a count no line task uses.
LINE_BUILDERS = frozenset({"completion"})


def parses_functions(builders: list[str]) -> bool:
    """Whether any of these builders extracts functions (a registered one not known to read
    only lines counts as one that does)."""
    return any(name not in LINE_BUILDERS for name in builders)


def get_builder(name: str) -> Builder:
    """Return the builder registered under `name`, or a one-line error listing the names."""
    return BUILDERS.get(name)
