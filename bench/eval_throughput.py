"""Scoring many LoRA checkpoints of one base: per-checkpoint merged generation (load the base,
merge one adapter, generate in plain batches; `evaluation.generate`) against one base with
every adapter attached and mixed-adapter batches (`evaluation.multi_adapter`).

Both sides decode the same (adapter, prompt) pairs greedily with no stop strings, so every
row yields exactly --new-tokens tokens; the timings include loading models and adapters.
Prints tokens/s of each side and the ratio, medians over --repeats, and checks that both
sides predict the same text.

    python bench/eval_throughput.py --adapters 8 --prompts 64 --new-tokens 32 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

import torch

from codesweep.config.schema import GenerationConfig, TinyModelConfig
from codesweep.evaluation.generate import generate, load_for_generation
from codesweep.evaluation.multi_adapter import MultiAdapterEngine
from codesweep.models.factory import build_tiny_model, save_atomically, train_tokenizer

TINY = TinyModelConfig(vocab_size=2048, hidden_size=128, num_layers=2, num_heads=4,
                       intermediate_size=256, pretrain_steps=0)


def make_workspace(root: Path, adapters: int, prompts: int) -> tuple[Path, list[Path], list[str]]:
    """A tiny model, `adapters` random LoRA adapters of it, and stdlib code prompts."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(stdlib.glob("*.py"))]
    tokenizer = train_tokenizer(texts[:60], TINY.vocab_size)
    torch.manual_seed(0)
    save_atomically(build_tiny_model(TINY, tokenizer), tokenizer, root / "model")
    paths = []
    for index in range(adapters):
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(root / "model"), LoraConfig(
            task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules="all-linear"))
        for name, param in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(param, std=0.5)
        paths.append(root / f"adapter_{index}")
        model.save_pretrained(paths[-1])
    # Prompts of varied length (20..300 characters) from the ends of functions.
    lines = [text[: 20 + (37 * i) % 280] for i, text in enumerate(texts[60:60 + prompts])]
    return root / "model", paths, lines


def per_checkpoint(base: Path, adapters: list[Path], prompts: list[str],
                   gen: GenerationConfig) -> list[list[str]]:
    """Today's path: one load + merge per checkpoint, then plain batches."""
    outputs = []
    for adapter in adapters:
        model, tokenizer = load_for_generation(str(base), str(adapter), "float32")
        outputs.append(generate(model, tokenizer, prompts, gen))
    return outputs


def mixed(base: Path, adapters: list[Path], prompts: list[str],
          gen: GenerationConfig) -> list[list[str]]:
    """One base, every adapter attached, length-sorted mixed-adapter batches."""
    engine = MultiAdapterEngine(str(base), "float32")
    for index, adapter in enumerate(adapters):
        engine.add_adapter(f"a{index}", adapter)
    requests = [(f"a{index}", prompt) for index in range(len(adapters)) for prompt in prompts]
    flat = engine.generate(requests, gen)
    return [flat[i * len(prompts):(i + 1) * len(prompts)] for i in range(len(adapters))]


def timed(fn, *args) -> tuple[float, list[list[str]]]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapters", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16, help="today's path (suite default)")
    parser.add_argument("--mixed-batch-size", type=int, default=128,
                        help="rows per mixed batch (rows of several adapters share it)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    old_gen = GenerationConfig(max_new_tokens=args.new_tokens, stop=[], batch_size=args.batch_size)
    new_gen = old_gen.model_copy(update={"batch_size": args.mixed_batch_size})
    tokens = args.adapters * args.prompts * args.new_tokens
    with tempfile.TemporaryDirectory() as tmp:
        base, adapters, prompts = make_workspace(Path(tmp), args.adapters, args.prompts)
        old, new = [], []
        for _ in range(args.repeats):
            seconds, old_out = timed(per_checkpoint, base, adapters, prompts, old_gen)
            old.append(seconds)
            seconds, new_out = timed(mixed, base, adapters, prompts, new_gen)
            new.append(seconds)
            if old_out != new_out:
                raise SystemExit("predictions differ between the two paths")
    old_rate, new_rate = tokens / statistics.median(old), tokens / statistics.median(new)
    print(f"{args.adapters} adapters x {args.prompts} prompts x {args.new_tokens} new tokens, "
          f"{args.threads} thread(s), median of {args.repeats}")
    print(f"per-checkpoint merged (batch {args.batch_size}): {old_rate:8.0f} tokens/s "
          f"({statistics.median(old):.2f} s)")
    print(f"mixed-adapter (batch {args.mixed_batch_size}):       {new_rate:8.0f} tokens/s "
          f"({statistics.median(new):.2f} s)")
    print(f"ratio: {new_rate / old_rate:.2f}x")


if __name__ == "__main__":
    main()
