"""Name -> task builder. Each builder is `build(files, params, seed) -> examples`.

`files` is a pandas DataFrame of prepared files (columns: repo, revision, path, language,
text, sha, split); the result is a DataFrame with at least `id`, `split`, `prompt`,
`completion`. Builders are deterministic per file (randomness seeded from `seed` and the
file's sha), so the output does not depend on how Ray Data batches the files.
Modules are imported lazily so that a recipe naming one builder does not import them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pandas as pd

from codesweep.errors import CodesweepError, did_you_mean

Builder = Callable[[pd.DataFrame, dict[str, Any], int], pd.DataFrame]

BUILDERS: dict[str, str] = {
    "completion": "codesweep.tasks.completion:build_completion",
}


def get_builder(name: str) -> Builder:
    """Return the builder registered under `name`, or a one-line error listing the names."""
    if name not in BUILDERS:
        raise CodesweepError(
            f"unknown task builder {name!r}{did_you_mean(name, BUILDERS)}; "
            f"available: {', '.join(sorted(BUILDERS))}"
        )
    module_name, _, function_name = BUILDERS[name].partition(":")
    return getattr(importlib.import_module(module_name), function_name)
