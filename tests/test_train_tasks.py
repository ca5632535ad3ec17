"""Prompt -> completion training: prompt tokens masked from the loss, packing, effective
batch from the recipe, encoder-decoder (CodeT5-style) models, new IR vocabulary rows,
checkpoint retention and deterministic seeding."""

from __future__ import annotations

import json
import math
import sysconfig
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from codesweep.config.loader import validate
from codesweep.config.schema import TinyModelConfig, TuningRecipe
from codesweep.errors import CodesweepError
from codesweep.models.factory import (
    build_tiny_model,
    build_tiny_seq2seq,
    save_atomically,
    train_tokenizer,
)
from codesweep.records import PreparedDataRef, TrialSpec
from codesweep.train.batches import IGNORE, encode_pairs
from codesweep.train.checkpoints import prune
from codesweep.train.local import run_local

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TINY = TinyModelConfig(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2,
                       intermediate_size=64, pretrain_steps=0)


def line_pairs(texts: list[str]) -> pd.DataFrame:
    """(previous lines -> next line) pairs: a small completion task from real code."""
    rows = []
    for text in texts:
        lines = [line for line in text.splitlines() if line.strip()]
        rows += [{"prompt": "\n".join(lines[i - 3:i]) + "\n", "completion": lines[i]}
                 for i in range(3, min(len(lines), 120), 3)]
    frame = pd.DataFrame(rows)
    return frame.assign(id=[f"{i:08d}" for i in range(len(frame))])  # as prepared tasks have


def make_workspace(root: Path, task_names: tuple[str, ...] = ("lines",)) -> Path:
    """A prepared-data directory (files/ and tasks/) plus a tiny Llama and a tiny T5."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(STDLIB.glob("[a-c]*.py"))[:12]]
    prepared = root / "prepared"
    for split, part in (("train", texts[:10]), ("validation", texts[10:])):
        (prepared / "files" / split).mkdir(parents=True)
        shas = [f"{i:08d}" for i in range(len(part))]  # keeps this order when read
        frame = pd.DataFrame({"text": part, "sha": shas})
        frame.to_parquet(prepared / "files" / split / "p.parquet")
        for task in task_names:
            (prepared / "tasks" / task / split).mkdir(parents=True)
            line_pairs(part).to_parquet(prepared / "tasks" / task / split / "p.parquet")
    tokenizer = train_tokenizer(texts, TINY.vocab_size)
    torch.manual_seed(0)
    save_atomically(build_tiny_model(TINY, tokenizer), tokenizer, root / "llama")
    torch.manual_seed(0)
    save_atomically(build_tiny_seq2seq(TINY, tokenizer), tokenizer, root / "t5")
    return root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("tasks"), ("lines", "methods_A", "methods_B"))


def task_spec(root: Path, model: str = "llama", **sections: dict) -> TrialSpec:
    base = {"name": "t", "pipeline": "p.yaml", "model": {"name_or_path": str(root / model)},
            "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"},
            "optim": {"lr": 3e-2, "warmup_steps": 0},
            "data": {"task": "lines", "window": 48, "micro_batch_size": 4, "val_blocks": 8},
            "train": {"num_workers": 0, "torch_threads": 1, "max_steps": 4, "report_every": 2}}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    recipe = TuningRecipe.model_validate(base)
    return TrialSpec(recipe=recipe, base_path=str(root / model),
                     prepared=PreparedDataRef(root=str(root / "prepared"), key="test"))


def read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tokenizer(workspace: Path):
    from codesweep.models.factory import load_tokenizer

    return load_tokenizer(workspace / "llama")


def test_prompt_tokens_are_masked_and_completion_kept(tokenizer) -> None:
    prompt, completion = "def area(r):\n", "    return 3.14 * r * r"
    rows = encode_pairs([(prompt, completion)], tokenizer, 64, 10, packing=False,
                        completion_only=True, seq2seq=False).arrays
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    n_completion = len(tokenizer(completion, add_special_tokens=False)["input_ids"]) + 1  # EOS
    labels = rows["labels"][0]
    assert (labels[:n_prompt] == IGNORE).all()
    assert (labels[n_prompt:n_prompt + n_completion] == rows["input_ids"][0][
        n_prompt:n_prompt + n_completion]).all()
    assert labels[n_prompt + n_completion - 1] == tokenizer.eos_token_id
    assert (labels[n_prompt + n_completion:] == IGNORE).all()  # padding
    assert rows["attention_mask"][0].sum() == n_prompt + n_completion


def test_long_prompt_loses_its_start_not_the_completion(tokenizer) -> None:
    prompt = "x = 1\n" * 200
    rows = encode_pairs([(prompt, "return x")], tokenizer, 32, 1, packing=False,
                        completion_only=True, seq2seq=False).arrays
    target = tokenizer("return x", add_special_tokens=False)["input_ids"] + [
        tokenizer.eos_token_id]
    assert rows["attention_mask"][0].sum() == 32
    assert list(rows["labels"][0][-len(target):]) == target


def test_packing_fills_windows_and_keeps_masks(tokenizer) -> None:
    pairs = [(f"# step {i}\n", f"value = {i}") for i in range(40)]
    packed = encode_pairs(pairs, tokenizer, 32, 100, packing=True, completion_only=True,
                          seq2seq=False)
    single = encode_pairs(pairs, tokenizer, 32, 100, packing=False, completion_only=True,
                          seq2seq=False)
    assert packed.arrays["input_ids"].shape[1] == 32 and "attention_mask" not in packed.arrays
    assert len(packed) < len(single)
    # Every packed window holds completion targets only where the unpacked rows have them.
    assert 0 < packed.target_tokens() <= single.target_tokens()


def test_masked_loss_is_cross_entropy_over_completion_only(workspace: Path, tokenizer) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(workspace / "llama").eval()
    rows = encode_pairs([("import os\n", "print(os.sep)")], tokenizer, 32, 1, packing=False,
                        completion_only=True, seq2seq=False)
    batch = rows.micro_batch(0, 1)
    with torch.no_grad():
        loss = model(**batch).loss
        logits = model(input_ids=batch["input_ids"]).logits[0, :-1]
    targets = batch["labels"][0, 1:]
    keep = targets != IGNORE
    manual = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
    assert loss.item() == pytest.approx(manual.item(), rel=1e-5)


def test_effective_batch_comes_from_the_recipe() -> None:
    recipe = TuningRecipe(name="t", pipeline="p", data={"micro_batch_size": 4,
                                                          "effective_batch_size": 32},
                          train={"num_workers": 2})
    assert recipe.grad_accum_for(2) == 4
    assert recipe.grad_accum_for(1) == 8  # one process still gets 32 sequences per step
    with pytest.raises(CodesweepError, match=r"data.effective_batch_size=30 must be a multiple"
                                             r" of data.micro_batch_size x train.num_workers"):
        validate(TuningRecipe, {"name": "t", "pipeline": "p", "train": {"num_workers": 2},
                                "data": {"micro_batch_size": 4, "effective_batch_size": 30}},
                 "r.yaml")


def test_training_on_a_task_with_effective_batch(workspace: Path) -> None:
    out = workspace / "run-task"
    spec = task_spec(workspace, data={"effective_batch_size": 8}, train={"max_steps": 6,
                                                                         "report_every": 3})
    last = run_local(spec, out)
    reports = read_metrics(out)
    assert [r["effective_batch_size"] for r in reports] == [8, 8]
    assert reports[1]["train_loss"] < reports[0]["train_loss"]
    assert math.isfinite(last["val_loss"])


def test_seq2seq_model_trains_lora_and_reloads(workspace: Path) -> None:
    from codesweep.models.adapters import load_trained

    out = workspace / "run-t5"
    spec = task_spec(workspace, "t5", lora={"target_modules": ["q", "v"]},
                     train={"max_steps": 6, "report_every": 3})
    run_local(spec, out)
    reports = read_metrics(out)
    assert reports[1]["train_loss"] < reports[0]["train_loss"]
    model, _ = load_trained(str(workspace / "t5"), out / "checkpoint_6")
    assert model.config.is_encoder_decoder
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_seq2seq_needs_a_task(workspace: Path) -> None:
    spec = task_spec(workspace, "t5", data={"task": None})
    with pytest.raises(CodesweepError, match="data.task: an encoder-decoder model"):
        run_local(spec, workspace / "run-t5-files")


def test_ir_variant_c_trains_new_rows_next_to_the_adapter(workspace: Path) -> None:
    from codesweep.models.adapters import load_trained

    out = workspace / "run-c"
    spec = task_spec(workspace, data={"task": "methods", "ir_variant": "C",
                                      "ir": {"kinds": ["cfg"], "max_cfg_blocks": 2}},
                     train={"max_steps": 2, "report_every": 2})
    run_local(spec, out)  # C reads methods_B's examples
    checkpoint = out / "checkpoint_2"
    assert (checkpoint / "tokenizer.json").is_file()  # the grown vocabulary travels with it
    from safetensors.torch import load_file

    state = load_file(checkpoint / "adapter_model.safetensors")
    delta = next(v for k, v in state.items() if k.endswith("embed_tokens.token_adapter."
                                                           "trainable_tokens_delta"))
    model, tokenizer = load_trained(str(workspace / "llama"), checkpoint)
    added = len(tokenizer) - TINY.vocab_size
    assert added > 0 and delta.shape == (added, TINY.hidden_size)
    assert delta.abs().sum() > 0  # the new rows moved during training
    assert model.get_input_embeddings().weight.shape[0] >= len(tokenizer)


def test_missing_task_names_what_is_prepared(workspace: Path) -> None:
    spec = task_spec(workspace, data={"task": "lnes"})
    with pytest.raises(CodesweepError, match=r"no prepared task 'lnes' \(did you mean \"lines\""):
        run_local(spec, workspace / "run-missing")


def test_keep_best_by_val_loss_keeps_latest_too(tmp_path: Path) -> None:
    for step, val in ((2, 3.0), (4, 1.0), (6, 2.0), (8, 4.0)):
        (tmp_path / f"checkpoint_{step}").mkdir()
        (tmp_path / f"checkpoint_{step}" / "metrics.json").write_text(json.dumps(
            {"val_loss": val}))
    prune(tmp_path, 1, "val_loss")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_4", "checkpoint_8"]
    prune(tmp_path, 1, "last")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_8"]


def test_local_run_keeps_last_n(workspace: Path) -> None:
    out = workspace / "run-keep"
    spec = task_spec(workspace, train={"max_steps": 3, "report_every": 1, "keep_checkpoints": 2})
    run_local(spec, out)
    assert sorted(p.name for p in out.glob("checkpoint_*")) == ["checkpoint_2", "checkpoint_3"]


def test_same_seed_same_losses_and_exact_resume_with_dropout(workspace: Path) -> None:
    spec = task_spec(workspace, lora={"dropout": 0.2}, train={"max_steps": 4, "report_every": 2})
    first, second, cut = (workspace / name for name in ("seed-a", "seed-b", "seed-cut"))
    for out in (first, second, cut):
        run_local(spec, out)
    losses = [(r["train_loss"], r["val_loss"]) for r in read_metrics(first)]
    assert losses == [(r["train_loss"], r["val_loss"]) for r in read_metrics(second)]
    import shutil

    shutil.rmtree(cut / "checkpoint_4")
    (cut / "metrics.jsonl").write_text(json.dumps(read_metrics(cut)[0]) + "\n")
    run_local(spec, cut)  # dropout RNG restored at step 2
    assert read_metrics(cut)[1]["train_loss"] == pytest.approx(
        read_metrics(first)[1]["train_loss"], rel=1e-6)


def test_full_fine_tune_saves_whole_model_and_resumes(workspace: Path) -> None:
    import shutil

    out, cut = workspace / "run-full", workspace / "run-full-cut"
    spec = task_spec(workspace, train={"method": "full", "max_steps": 4, "report_every": 2})
    for run in (out, cut):
        run_local(spec, run)
    names = {p.name for p in (out / "checkpoint_4").iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= names
    assert "adapter_model.safetensors" not in names
    np.testing.assert_equal(len(read_metrics(out)), 2)
    # Stopped after step 2's checkpoint: the rerun starts from its weights and optimizer.
    shutil.rmtree(cut / "checkpoint_4")
    (cut / "metrics.jsonl").write_text(json.dumps(read_metrics(cut)[0]) + "\n")
    run_local(spec, cut)
    resumed, uninterrupted = read_metrics(cut), read_metrics(out)
    assert [r["step"] for r in resumed] == [2, 4]  # step 2 not trained again
    for key in ("train_loss", "val_loss"):
        assert resumed[1][key] == pytest.approx(uninterrupted[1][key], rel=1e-5)
