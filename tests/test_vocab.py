"""Variant C: IR tokens become single new tokens whose embedding rows train with LoRA."""

from __future__ import annotations

import pytest
import torch

from codesweep.models.vocab import add_tokens, with_trainable_tokens
from codesweep.tasks.ir_prompt import variant_tokens

IR_LINE = "# CFG: <cfg:b0> <stmt:Return> <edge:return> <cfg:exit>\ndef f(x):\n    return x\n"


def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(["def f(x):\n    return x\n", "class A:\n    pass\n"], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<eos>")


def tiny_model(vocab_size: int, tied: bool):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, intermediate_size=64,
                         max_position_embeddings=128, tie_word_embeddings=tied)
    return LlamaForCausalLM(config)


def test_tokens_are_added_once_and_encode_as_single_ids() -> None:
    tokenizer = tiny_tokenizer()
    model = tiny_model(len(tokenizer), tied=True)
    before = model.get_input_embeddings().weight.shape[0]
    tokens = variant_tokens({"variant": "C"})
    new_ids = add_tokens(tokenizer, model, tokens)
    assert len(new_ids) == len(tokens) == len(set(new_ids))
    assert model.get_input_embeddings().weight.shape[0] == before + len(tokens)
    ids = tokenizer(IR_LINE)["input_ids"]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    start = pieces.index(" <cfg:b0>")
    assert pieces[start:start + 4] == [" <cfg:b0>", " <stmt:Return>", " <edge:return>",
                                       " <cfg:exit>"]
    assert all(i in new_ids for i in ids[start:start + 4])  # one token each, space included
    assert tokenizer.decode(tokenizer(IR_LINE)["input_ids"]) == IR_LINE
    assert add_tokens(tokenizer, model, tokens) == []  # idempotent
    assert model.get_input_embeddings().weight.shape[0] == before + len(tokens)


@pytest.mark.parametrize("tied", [True, False])
def test_training_updates_only_new_rows_and_lora(tied: bool) -> None:
    from peft import LoraConfig, get_peft_model

    tokenizer = tiny_tokenizer()
    model = tiny_model(len(tokenizer), tied)
    old_rows = len(tokenizer)
    new_ids = add_tokens(tokenizer, model, variant_tokens({"variant": "C", "kinds": ["cfg"]}))
    config = with_trainable_tokens(LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj",
                                                                                  "v_proj"]),
                                   new_ids)
    model = get_peft_model(model, config)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "trainable_tokens" in n for n in trainable)
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters()
                     if not p.requires_grad}
    tunable_before = {n: p.detach().clone() for n, p in model.named_parameters()
                      if p.requires_grad}
    embed = model.get_input_embeddings()
    all_ids = torch.arange(old_rows + len(new_ids))
    rows_before = embed(all_ids).detach().clone()

    batch = tokenizer([IR_LINE], return_tensors="pt")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(**batch, labels=batch["input_ids"]).loss.backward()
    optimizer.step()

    rows_after = embed(all_ids).detach()
    assert torch.equal(rows_after[:old_rows], rows_before[:old_rows])  # old rows untouched
    used = sorted(set(batch["input_ids"][0].tolist()) & set(new_ids))
    assert used and all(not torch.equal(rows_after[i], rows_before[i]) for i in used)
    for name, value in frozen_before.items():
        assert torch.equal(dict(model.named_parameters())[name], value), name
    changed = [n for n, p in model.named_parameters() if p.requires_grad
               and not torch.equal(p.detach(), tunable_before[n])]
    assert any("lora_B" in n for n in changed) and any("trainable_tokens" in n for n in changed)


def test_recipe_tokens_are_the_ir_vocabulary_for_variant_c_only() -> None:
    from codesweep.config.schema import DataConfig
    from codesweep.tasks.ir_prompt import recipe_tokens

    variant_c = DataConfig(task="methods", ir_variant="C", ir={"kinds": ["cfg"]})
    assert recipe_tokens(variant_c) == variant_tokens({"variant": "C", "kinds": ["cfg"]})
    assert recipe_tokens(DataConfig(task="methods", ir_variant="B")) == []
    assert recipe_tokens(DataConfig()) == []
