"""Scoring a checkpoint on the in-training slice: eval.<task>.<metric> keys, pass@k through the
sandbox, failures recorded per task instead of raised, bad slice settings as one-line errors."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pandas as pd
import pytest
import torch

from codesweep.config.schema import EvalSuite, TinyModelConfig
from codesweep.errors import CodesweepError
from codesweep.evaluation.in_training import load_slice, score_checkpoint
from codesweep.models.factory import build_tiny_model, save_atomically, train_tokenizer
from codesweep.records import PreparedDataRef

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TINY = TinyModelConfig(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2,
                       intermediate_size=64, pretrain_steps=0)
SUITE = EvalSuite(name="quick", tasks=[
    {"name": "comp", "dataset": "completion", "metrics": ["exact_match", "edit_sim"],
     "generation": {"max_new_tokens": 6, "batch_size": 4}},
    {"name": "he", "benchmark": "humaneval_single_line", "benchmark_params": {"limit": 2},
     "metrics": ["exact_match"], "k": [1], "timeout": 5,
     "generation": {"max_new_tokens": 6}},
])


def prepared_of(workspace: Path) -> PreparedDataRef:
    return PreparedDataRef(root=str(workspace / "prepared"), key="test")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model, one LoRA adapter of it, and a prepared completion task of 6 examples."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("intrain")
    texts = [p.read_text(encoding="utf-8") for p in sorted(STDLIB.glob("[a-c]*.py"))[:6]]
    tokenizer = train_tokenizer(texts, TINY.vocab_size)
    torch.manual_seed(0)
    model = build_tiny_model(TINY, tokenizer)
    save_atomically(model, tokenizer, root / "model")
    get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear")
                   ).save_pretrained(root / "checkpoint_2")
    split = root / "prepared" / "tasks" / "completion" / "test"
    split.mkdir(parents=True)
    pd.DataFrame({"id": [f"{i:02d}" for i in range(6)], "prompt": [t[:60] for t in texts],
                  "completion": [t[60:80] for t in texts]}).to_parquet(split / "part-0.parquet")
    return root


def test_scores_text_and_pass_at_k_tasks(workspace: Path) -> None:
    tasks = load_slice(SUITE, prepared_of(workspace), examples=2)
    scores = score_checkpoint(workspace / "checkpoint_2", str(workspace / "model"), tasks,
                              "float32")
    assert scores["eval.comp.status"] == "ok" and scores["eval.he.status"] == "ok"
    assert 0.0 <= scores["eval.comp.edit_sim"] <= 100.0
    assert scores["eval.comp.exact_match"] == 0.0  # an untrained model matches nothing
    assert scores["eval.he.pass@1"] == 0.0 and "eval.he.exact_match" in scores


def test_sandbox_failure_is_recorded_for_its_task_only(workspace: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import codesweep.execution

    def unavailable(*args: object, **kwargs: object) -> None:
        raise RuntimeError("sandbox unavailable: no isolation level works here")

    monkeypatch.setattr(codesweep.execution, "run_samples", unavailable)
    tasks = load_slice(SUITE, prepared_of(workspace), examples=2)
    scores = score_checkpoint(workspace / "checkpoint_2", str(workspace / "model"), tasks,
                              "float32")
    assert scores["eval.he.status"] == "failed"
    assert scores["eval.he.reason"].startswith("RuntimeError: sandbox unavailable")
    assert "eval.he.pass@1" not in scores
    assert scores["eval.comp.status"] == "ok" and "eval.comp.edit_sim" in scores


def test_unloadable_checkpoint_fails_every_task(workspace: Path) -> None:
    tasks = load_slice(SUITE, prepared_of(workspace), examples=1, tasks=["comp"])
    scores = score_checkpoint(workspace / "missing", str(workspace / "model"), tasks, "float32")
    assert scores["eval.comp.status"] == "failed"
    assert "cannot load" in scores["eval.comp.reason"]
    assert set(scores) == {"eval.comp.status", "eval.comp.reason"}


def test_bad_slice_settings_are_one_line_errors(workspace: Path) -> None:
    with pytest.raises(CodesweepError, match="7 examples asked of task comp, its split has 6"):
        load_slice(SUITE, prepared_of(workspace), examples=7, tasks=["comp"])
    with pytest.raises(CodesweepError, match="unknown task.*cmop.*has: comp, he"):
        load_slice(SUITE, prepared_of(workspace), examples=1, tasks=["cmop"])
