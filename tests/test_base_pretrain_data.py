"""The embedded tiny base pre-trains on the train split from its far end, so the rows a
fine-tune starts with are new to it (a real base has not seen the user's repository)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from codesweep import experiment
from codesweep.config.schema import DataConfig, TuningRecipe
from codesweep.records import PreparedDataRef
from codesweep.train import pretrain
from codesweep.train.examples import read_split


def test_the_base_reads_the_rows_fine_tuning_starts_with_last(tmp_path: Path,
                                                               monkeypatch: Any) -> None:
    prepared = PreparedDataRef(root=str(tmp_path / "p-1"), key="1")
    train = Path(prepared.files("train"))
    train.mkdir(parents=True)
    texts = [f"text {i}" for i in range(6)]
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(
        {"text": texts[::-1], "sha": [f"{i}" for i in range(6)][::-1]}), preserve_index=False),
        train / "part-0.parquet")
    seen: dict[str, list[str]] = {}

    def fake_base(cfg: Any, train_texts: Any, **kwargs: Any) -> tuple[Path, bool]:
        seen["base"] = list(train_texts())
        return tmp_path / "base", False

    monkeypatch.setattr(pretrain, "ensure_tiny_base", fake_base)
    recipe = TuningRecipe.model_validate({"name": "t", "pipeline": "p.yaml"})
    exp = SimpleNamespace(recipe=recipe, cache_root=tmp_path / "cache", verify=False,
                          stored=str)  # a local root: the base stays where it was built
    experiment.base_model(exp, prepared, experiment.Silent())  # type: ignore[arg-type]
    fine_tune_first = [row for row, _ in zip(read_split(prepared, DataConfig(), "train"),
                                             range(3), strict=False)]
    assert seen["base"] == texts[::-1]
    assert seen["base"][0] not in [str(row) for row in fine_tune_first]
    assert fine_tune_first and "text 0" in str(fine_tune_first[0])


def test_a_rebuilt_base_has_the_same_weights(tmp_path: Path) -> None:
    """Rebuilding the base (a new machine, a cleared cache) gives the same model, so scores
    against it repeat; its initial weights were unseeded before."""
    import random

    import torch
    from safetensors.torch import load_file

    from codesweep.config.schema import TinyModelConfig

    cfg = TinyModelConfig(vocab_size=300, hidden_size=16, num_layers=1, num_heads=2,
                          intermediate_size=32, pretrain_steps=2, pretrain_batch_size=2,
                          pretrain_window=16)
    texts = [f"def f{i}(x):\n    return x * {i} + {i * i}\n" * 4 for i in range(40)]
    weights = []
    for attempt in range(2):
        torch.manual_seed(attempt)  # whatever ran before in the process
        random.seed(attempt)
        target = tmp_path / f"base{attempt}"
        pretrain.build_tiny_base(cfg, lambda: iter(texts), target, log=lambda m: None)
        weights.append(load_file(target / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
