"""Training throughput: tokens/s and step time of LoRA fine-tuning.

CPU section: the tiny Llama on Ray Train with 1 and 2 workers (medians over reports after the
first, over --repeats runs; the 2-worker ratio is printed). Packing section (no Ray): the tiny
Llama's LoRA steps in one process on packed files with `data.packing_attention`
per_document vs shared, per attention implementation (sdpa: transformers' packed-sequence
mask; eager: our explicit block-diagonal mask): tokens/s medians of 3 interleaved timings and
the per-document cost as a ratio. GPU section (skipped without CUDA): a 1B-class Llama
built from a config (no download), LoRA bf16 and QLoRA 4-bit, each without and with
DeepSpeed ZeRO-2 (skipped without deepspeed), in one process: tokens/s, peak memory and
model FLOPs utilisation (MFU).

    python bench/train_throughput.py --steps 30 --report-every 10 --repeats 2
    python bench/train_throughput.py --packing-only --steps 20 --report-every 5
    python bench/train_throughput.py --gpu-only --steps 20 --report-every 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from codesweep.config.schema import TinyModelConfig, TuningRecipe
from codesweep.models.factory import build_tiny_model, save_atomically, train_tokenizer
from codesweep.records import PreparedDataRef, TrialSpec

TINY = TinyModelConfig(vocab_size=2048, hidden_size=128, num_layers=2, num_heads=4,
                       intermediate_size=256, pretrain_steps=0)
# TinyLlama-1.1B's shape: the 1B class people QLoRA on one GPU.
ONE_B = {"hidden_size": 2048, "num_hidden_layers": 22, "num_attention_heads": 32,
         "num_key_value_heads": 4, "intermediate_size": 5632}
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def make_files(root: Path) -> list[str]:
    """files/{train,validation} from the standard library; returns the texts."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(stdlib.glob("*.py"))]
    for split, part in (("train", texts[:-20]), ("validation", texts[-20:])):
        (root / "files" / split).mkdir(parents=True, exist_ok=True)
        shas = [f"{i:08d}" for i in range(len(part))]  # keeps this order when read
        frame = pd.DataFrame({"text": part, "sha": shas})
        frame.to_parquet(root / "files" / split / "part-0.parquet")
    return texts


def spec(root: Path, model_dir: Path, steps: int, every: int, **sections: Any) -> TrialSpec:
    base: dict[str, Any] = {
        "name": "bench", "pipeline": "-", "model": {"name_or_path": str(model_dir)},
        "lora": {"target_modules": "all-linear"},
        "data": {"window": 128, "micro_batch_size": 8, "val_blocks": 8},
        "train": {"max_steps": steps, "report_every": every}}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    recipe = TuningRecipe.model_validate(base)
    return TrialSpec(recipe=recipe, base_path=str(model_dir),
                     prepared=PreparedDataRef(root=str(root), key="bench"))


def steady(reports: list[dict], key: str) -> float:
    """Median of `key` over reports after the first (which carries start-up)."""
    values = [r[key] for r in reports[1:]] or [r[key] for r in reports]
    return statistics.median(values)


def cpu_section(root: Path, args: argparse.Namespace) -> None:
    import ray

    from codesweep.ray_runtime import ensure_ray
    from codesweep.train.ray_worker import make_trainer

    texts = make_files(root)
    tokenizer = train_tokenizer(texts[:200], TINY.vocab_size)
    save_atomically(build_tiny_model(TINY, tokenizer), tokenizer, root / "tiny")
    ensure_ray()
    rows = {}
    for workers in (1, 2):
        runs = []
        for repeat in range(args.repeats):
            run_spec = spec(root, root / "tiny", args.steps, args.report_every,
                            train={"num_workers": workers, "cpus_per_worker": 0.5})
            reports = _collect(make_trainer, run_spec, root / "ray", f"w{workers}-{repeat}")
            runs.append((steady(reports, "tokens_per_s"), steady(reports, "step_time_s")))
        rows[workers] = (statistics.median(r[0] for r in runs),
                         statistics.median(r[1] for r in runs))
        print(f"cpu  LoRA tiny  workers={workers}  tokens/s {rows[workers][0]:9.0f}  "
              f"step {rows[workers][1] * 1000:7.1f} ms")
    print(f"cpu  2 workers / 1 worker: tokens/s x{rows[2][0] / rows[1][0]:.2f}, "
          f"step time x{rows[2][1] / rows[1][1]:.2f}")
    ray.shutdown()


def packing_section(root: Path, args: argparse.Namespace) -> None:
    """tokens/s of LoRA steps on packed windows, per_document vs shared attention: the same
    rows, modes interleaved (machine load hits both alike), median of 3 timings each."""
    import torch

    torch.set_num_threads(args.threads)
    texts = make_files(root)
    model_dir = root / "tiny"
    if not (model_dir / "config.json").is_file():
        tokenizer = train_tokenizer(texts[:200], TINY.vocab_size)
        save_atomically(build_tiny_model(TINY, tokenizer), tokenizer, model_dir)
    modes = ("shared", "per_document")
    for attn in ("sdpa", "eager"):
        setups = {mode: packed_setup(model_dir, texts, attn, mode, args.steps) for mode in modes}
        timings: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(3):
            for mode in modes:
                timings[mode].append(packed_tokens_per_s(*setups[mode]))
        speed = {mode: statistics.median(timings[mode]) for mode in modes}
        print(f"cpu  packing attn={attn:5s}  tokens/s shared {speed['shared']:8.0f}  "
              f"per_document {speed['per_document']:8.0f}  "
              f"per_document/shared x{speed['per_document'] / speed['shared']:.3f}")


def packed_setup(model_dir: Path, texts: list[str], attn: str, mode: str, steps: int
                 ) -> tuple[Any, list[dict]]:
    """(engine, micro batches) as the training loop builds them for `attn` and `mode`."""
    import torch

    from codesweep.models.adapters import load_for_training
    from codesweep.train.batches import encode_files
    from codesweep.train.engine import make_engine
    from codesweep.train.loop import set_up_packing

    run_spec = spec(Path("-"), model_dir, steps, steps, model={"attn_implementation": attn},
                    data={"packing_attention": mode, "window": 256})
    recipe = run_spec.recipe
    torch.manual_seed(0)
    model, tokenizer = load_for_training(str(model_dir), recipe)
    size = recipe.data.micro_batch_size
    rows = encode_files(texts, tokenizer, recipe.data.window, size * steps,
                        per_document=mode == "per_document")
    rows = rows.with_explicit_mask(set_up_packing(model, recipe))
    engine = make_engine(model, recipe, 1, lambda wrapped: wrapped)
    batches = [rows.micro_batch(index, size) for index in range(steps)]
    engine.step(batches[:1])  # warm-up: first-call allocations are not the mask's cost
    return engine, batches


def packed_tokens_per_s(engine: Any, batches: list[dict]) -> float:
    import time

    started = time.perf_counter()
    for batch in batches:
        engine.step([batch])
    return sum(b["input_ids"].numel() for b in batches) / (time.perf_counter() - started)


def _collect(make_trainer: Any, run_spec: TrialSpec, storage: Path, name: str) -> list[dict]:
    """Fit and return the rank-0 reports (from the run's checkpoint metrics)."""
    result = make_trainer(run_spec, name=name, storage_path=storage, callbacks=[]).fit()
    frame = result.metrics_dataframe
    return frame.to_dict("records") if frame is not None else [result.metrics]


def gpu_section(root: Path, args: argparse.Namespace) -> None:
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        print("gpu  skipped: no CUDA device")
        return
    model_dir = build_one_b(root)
    have_bnb = importlib.util.find_spec("bitsandbytes") is not None
    have_ds = importlib.util.find_spec("deepspeed") is not None
    for label, quant in (("LoRA bf16", 0), ("QLoRA 4-bit", 4)):
        for stage in (0, 2):
            if (quant and not have_bnb) or (stage and not have_ds):
                print(f"gpu  {label:12s} zero={stage}  skipped: "
                      f"{'bitsandbytes' if quant and not have_bnb else 'deepspeed'} missing")
                continue
            gpu_run(root, model_dir, args, label, quant, stage)


def gpu_run(root: Path, model_dir: Path, args: argparse.Namespace, label: str, quant: int,
            stage: int) -> None:
    import torch

    from codesweep.train.local import run_local

    torch.cuda.reset_peak_memory_stats()
    out = root / f"gpu-{quant}-{stage}"
    run_spec = spec(root, model_dir, args.steps, args.report_every,
                    model={"dtype": "bfloat16", "quantization": {"bits": quant}},
                    data={"window": 1024, "micro_batch_size": 4, "val_blocks": 4},
                    train={"num_workers": 0, "deepspeed": {"stage": stage}})
    run_local(run_spec, out)
    reports = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    tokens = steady(reports, "tokens_per_s")
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"gpu  {label:12s} zero={stage}  tokens/s {tokens:9.0f}  "
          f"step {steady(reports, 'step_time_s') * 1000:7.1f} ms  peak {peak:5.1f} GiB  "
          f"MFU {mfu(tokens, model_dir, 1024):5.1%}")


def build_one_b(root: Path) -> Path:
    """A 1.1B-parameter Llama with random weights, saved in bf16 (speed needs no training)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    target = root / "llama-1b"
    if (target / "config.json").is_file():
        return target
    texts = make_files(root)
    tokenizer = train_tokenizer(texts[:400], 32000)
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=2048,
                         pad_token_id=tokenizer.pad_token_id, **ONE_B)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    save_atomically(model, tokenizer, target)
    del model
    torch.cuda.empty_cache()
    return target


def mfu(tokens_per_s: float, model_dir: Path, window: int) -> float:
    """Model FLOPs utilisation. LoRA skips the frozen weights' gradients, so a token costs
    ~4N (forward 2N + input-gradient 2N) plus attention (12 x layers x hidden x window)."""
    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    h, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    kv = h * config.num_key_value_heads // config.num_attention_heads
    params = layers * (2 * h * h + 2 * h * kv + 3 * h * config.intermediate_size) + vocab * h
    flops = 4 * params + 12 * layers * h * window
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), 989.0)
    return tokens_per_s * flops / (peak * 1e12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--report-every", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads, packing runs")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--gpu-only", action="store_true")
    only.add_argument("--packing-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codesweep-bench-") as tmp:
        if not (args.gpu_only or args.packing_only):
            cpu_section(Path(tmp), args)
        if not args.gpu_only:
            packing_section(Path(tmp), args)
        if not args.packing_only:
            gpu_section(Path(tmp), args)


if __name__ == "__main__":
    main()
