"""embedding_cosine on a tiny model built from a config (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from codesweep.errors import CodesweepError
from codesweep.metrics import compute

TEXTS = ["def add(a, b):", "return a + b", "for i in range(10):", "print(x)"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(TEXTS, trainers.WordLevelTrainer(special_tokens=["<unk>",
                                                                                   "<pad>"]))
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>",
                            pad_token="<pad>").save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32,
                         intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=4, max_position_embeddings=64)
    LlamaModel(config).save_pretrained(path)
    return str(path)


def test_identical_texts_score_100_and_different_ones_less(tiny_model: str) -> None:
    same = compute(["embedding_cosine"], TEXTS, TEXTS, model_path=tiny_model)
    assert same.per_example["embedding_cosine"] == pytest.approx([100.0] * 4, abs=1e-3)
    other = compute(["embedding_cosine"], TEXTS, TEXTS[::-1], model_path=tiny_model)
    assert other.scores["embedding_cosine"] < 99.0


def test_padding_does_not_change_an_embedding(tiny_model: str) -> None:
    # one short text batched alone or beside a long one: the mask must hide the padding
    alone = compute(["embedding_cosine"], ["print(x)"], ["return a + b"], model_path=tiny_model)
    padded = compute(["embedding_cosine"], ["print(x)", TEXTS[2] * 3],
                     ["return a + b", TEXTS[0]], model_path=tiny_model)
    assert padded.per_example["embedding_cosine"][0] == pytest.approx(
        alone.scores["embedding_cosine"], abs=1e-3)


def test_a_model_is_required(tmp_path: Path) -> None:
    with pytest.raises(CodesweepError, match="needs a model"):
        compute(["embedding_cosine"], ["a"], ["a"])
    with pytest.raises(CodesweepError, match="cannot load a model"):
        compute(["embedding_cosine"], ["a"], ["a"], model_path=str(tmp_path))
