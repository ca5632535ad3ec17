"""The LoRA loop in one process: a model loaded from a local directory (the same code path
as a hub id), first losses, adapter-only checkpoints, and exact resume after interruption."""

from __future__ import annotations

import json
import math
import shutil
import sysconfig
from pathlib import Path

import pandas as pd
import pytest
import torch

from codesweep.config.schema import TinyModelConfig, TuningRecipe
from codesweep.models.factory import build_tiny_model, save_atomically, train_tokenizer
from codesweep.records import PreparedDataRef, TrialSpec
from codesweep.train.local import run_local

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TINY = TinyModelConfig(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2,
                       intermediate_size=64, pretrain_steps=0)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared-style files/ splits from a few stdlib modules, and a tiny model saved to disk."""
    root = tmp_path_factory.mktemp("train")
    texts = [p.read_text(encoding="utf-8") for p in sorted(STDLIB.glob("[a-c]*.py"))[:12]]
    for split, part in (("train", texts[:10]), ("validation", texts[10:])):
        (root / "files" / split).mkdir(parents=True)
        shas = [f"{i:08d}" for i in range(len(part))]  # keeps this order when read
        frame = pd.DataFrame({"text": part, "sha": shas})
        frame.to_parquet(root / "files" / split / "part-0.parquet")
    tokenizer = train_tokenizer(texts, TINY.vocab_size)
    torch.manual_seed(0)
    save_atomically(build_tiny_model(TINY, tokenizer), tokenizer, root / "model")
    return root


def spec_for(workspace: Path, data: dict | None = None, **train: int) -> TrialSpec:
    recipe = TuningRecipe(
        name="t", pipeline="p.yaml", model={"name_or_path": str(workspace / "model")},
        lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"},
        optim={"lr": 3e-2, "warmup_steps": 0},
        data={"window": 32, "micro_batch_size": 4, "val_blocks": 8, **(data or {})},
        train={"num_workers": 0, "torch_threads": 1, **train})
    return TrialSpec(recipe=recipe, base_path=str(recipe.model.name_or_path),
                     prepared=PreparedDataRef(root=str(workspace), key="test"))


def read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_tokenizer_round_trips_code_whitespace() -> None:
    source = "def f(x):\n\tif x:\n        return  x  # two spaces\n\n"
    tokenizer = train_tokenizer([source * 20], 300)
    assert tokenizer.decode(tokenizer(source)["input_ids"]) == source


def test_first_losses_checkpoints_and_adapter_only(workspace: Path) -> None:
    out = workspace / "run-a"
    last = run_local(spec_for(workspace, max_steps=6, report_every=3), out)
    reports = read_metrics(out)
    assert [r["step"] for r in reports] == [3, 6]
    # An untrained model predicts near-uniformly: loss starts near ln(vocab size).
    assert abs(reports[0]["train_loss"] - math.log(TINY.vocab_size)) < 1.0
    assert reports[1]["train_loss"] < reports[0]["train_loss"]
    assert math.isfinite(last["val_loss"])
    checkpoint = out / "checkpoint_6"
    assert {"adapter_model.safetensors", "adapter_config.json"} <= {p.name for p in
                                                                     checkpoint.iterdir()}
    assert not (checkpoint / "model.safetensors").exists()  # adapter only, no base weights


def test_resume_continues_from_last_checkpoint_exactly(workspace: Path) -> None:
    full, cut = workspace / "full", workspace / "cut"
    spec = spec_for(workspace, max_steps=6, report_every=3)
    run_local(spec, full)
    run_local(spec, cut)
    shutil.rmtree(cut / "checkpoint_6")  # an interruption after step 3's checkpoint
    (cut / "metrics.jsonl").write_text(json.dumps(read_metrics(cut)[0]) + "\n")
    run_local(spec, cut)
    resumed, uninterrupted = read_metrics(cut), read_metrics(full)
    assert [r["step"] for r in resumed] == [3, 6]  # step 3 not repeated
    assert resumed[1]["train_loss"] == pytest.approx(uninterrupted[1]["train_loss"], rel=1e-5)
    assert resumed[1]["val_loss"] == pytest.approx(uninterrupted[1]["val_loss"], rel=1e-5)


def test_too_little_data_is_a_clear_error(workspace: Path) -> None:
    from codesweep.errors import CodesweepError

    spec = spec_for(workspace, data={"micro_batch_size": 100_000}, max_steps=2, report_every=1)
    with pytest.raises(CodesweepError, match="fewer than data.micro_batch_size=100000"):
        run_local(spec, workspace / "run-small")


def test_unloadable_model_is_a_one_line_error_before_training(tmp_path: Path) -> None:
    from codesweep.errors import CodesweepError
    from codesweep.models.factory import check_loadable, load_tokenizer

    with pytest.raises(CodesweepError, match=r"model.name_or_path: cannot load '.*nowhere'"):
        check_loadable(str(tmp_path / "nowhere"))
    with pytest.raises(CodesweepError, match="cannot load a tokenizer"):
        load_tokenizer(tmp_path)


@pytest.mark.parametrize("method", ["full", "lora"])
def test_activation_checkpointing_uses_no_deprecated_api(workspace: Path, method: str) -> None:
    import warnings

    from codesweep.models.adapters import load_for_training

    spec = spec_for(workspace, method=method)
    recipe = spec.recipe.model_copy(deep=True)
    recipe.model.gradient_checkpointing = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, _ = load_for_training(spec.base_path, recipe)
    deprecated = [str(w.message) for w in caught
                  if issubclass(w.category, (DeprecationWarning, FutureWarning))
                  and "checkpointing_enable" in str(w.message)]
    assert deprecated == []
    base = model.get_base_model() if method == "lora" else model
    assert base.is_activation_checkpointing and model.config.use_cache is False


def test_the_recipe_is_not_validated_again_on_its_way_to_training(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_for(workspace, max_steps=1, report_every=1)

    def validated_again(cls, *args, **kwargs):
        raise AssertionError("the recipe was validated again after loading")

    monkeypatch.setattr(TuningRecipe, "model_validate", classmethod(validated_again))
    last = run_local(spec, workspace / "run-once")
    assert last["step"] == 1
