"""Where does Ray Train's time go? The same tiny LoRA run several ways, side by side:

  plain            the worker loop in this process (no Ray)
  ray-local        Ray Train local mode (1 CPU worker = this process), reading the split
  ray-local-data   Ray Train local mode, streaming a Ray Data dataset
  ray-1            Ray Train, 1 CPU worker process (no local mode), reading the split
  ray-2            Ray Train, 2 CPU workers (DDP over gloo) streaming Ray Data shards
  ray-2-direct     Ray Train, 2 CPU workers reading their rows of the Parquet split directly

Prints wall time, steady-state steps/s (from the loop's own reports) and the fixed cost per
run (wall time minus the time spent in steps), medians over --repeats, with ratios to `plain`.
A sweep pays the fixed cost once per trial: single-worker CPU trials use local mode.

    python bench/train_overhead.py --steps 20 --report-every 10 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

import pandas as pd

from codesweep.config.schema import TinyModelConfig, TuningRecipe
from codesweep.models.factory import build_tiny_model, save_atomically, train_tokenizer
from codesweep.records import PreparedDataRef, TrialSpec
from codesweep.train.local import run_local

TINY = TinyModelConfig(vocab_size=2048, hidden_size=128, num_layers=2, num_heads=4,
                       intermediate_size=256, pretrain_steps=0)


def stdlib_texts() -> list[str]:
    """The standard library's top-level modules, in name order (the bench corpus)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [p.read_text(encoding="utf-8", errors="replace") for p in sorted(stdlib.glob("*.py"))]


def make_workspace(root: Path) -> Path:
    """files/{train,validation} from the standard library and a tiny model on disk."""
    texts = stdlib_texts()
    for split, part in (("train", texts[:-20]), ("validation", texts[-20:])):
        (root / "files" / split).mkdir(parents=True)
        shas = [f"{i:08d}" for i in range(len(part))]  # keeps this order when read
        frame = pd.DataFrame({"text": part, "sha": shas})
        frame.to_parquet(root / "files" / split / "part-0.parquet")
    tokenizer = train_tokenizer(texts[:200], TINY.vocab_size)
    save_atomically(build_tiny_model(TINY, tokenizer), tokenizer, root / "model")
    return root


MODES = {"plain": (1, "direct"), "ray-local": (1, "direct"), "ray-local-data": (1, "ray_data"),
         "ray-1": (1, "direct"), "ray-2": (2, "ray_data"),
         "ray-2-direct": (2, "direct")}  # mode -> (workers, loader)
WORKER_PROCESS_MODES = {"ray-1"}  # one worker, yet a Train worker process, not local mode


def spec(root: Path, steps: int, report_every: int, workers: int,
         loader: str = "ray_data") -> TrialSpec:
    recipe = TuningRecipe(
        name="bench", pipeline="-", model={"name_or_path": str(root / "model")},
        data={"window": 128, "micro_batch_size": 8, "val_blocks": 16, "loader": loader},
        train={"max_steps": steps, "report_every": report_every, "num_workers": workers})
    return TrialSpec(recipe=recipe, base_path=str(root / "model"),
                     prepared=PreparedDataRef(root=str(root), key="bench"))


def run_plain(root: Path, run_spec: TrialSpec, out: Path) -> list[dict]:
    run_local(run_spec, out)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def run_ray(run_spec: TrialSpec, out: Path, name: str, in_process: bool) -> list[dict]:
    from codesweep.train.ray_worker import make_trainer

    trainer = make_trainer(run_spec, name=name, storage_path=out, callbacks=[],
                           allow_in_process=in_process)
    result = trainer.fit()
    if result.metrics_dataframe is None:  # local mode keeps the last report only
        return [result.metrics]
    return result.metrics_dataframe.to_dict("records")


def measure(mode: str, root: Path, args: argparse.Namespace, repeat: int) -> dict:
    workers, loader = MODES[mode]
    run_spec = spec(root, args.steps, args.report_every, workers, loader)
    out = Path(tempfile.mkdtemp(dir=root, prefix=f"{mode}-{repeat}-"))
    start = time.perf_counter()
    reports = run_plain(root, run_spec, out) if mode == "plain" else \
        run_ray(run_spec, out, f"{mode}-{repeat}", in_process=mode not in WORKER_PROCESS_MODES)
    wall = time.perf_counter() - start
    tokens_per_step = 8 * 128 * workers
    step_time = statistics.median(tokens_per_step / r["tokens_per_s"] for r in reports)
    return {"wall_s": wall, "steps_per_s": 1 / step_time,
            "startup_s": wall - args.steps * step_time}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--report-every", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    from codesweep.ray_runtime import ensure_ray

    ensure_ray()  # one Ray session for every measurement, as one codesweep command has
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp))
        rows = {mode: [measure(mode, root, args, r) for r in range(args.repeats)]
                for mode in args.modes.split(",")}
    print_table(rows, args)


def print_table(rows: dict[str, list[dict]], args: argparse.Namespace) -> None:
    medians = {mode: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
               for mode, runs in rows.items()}
    base = medians.get("plain")
    print(f"\n{args.steps} steps, report every {args.report_every}, "
          f"median of {args.repeats} (tiny Llama 2x128, LoRA r=8, 8x128 tokens/worker/step)")
    print(f"{'mode':15} {'wall s':>8} {'steps/s':>8} {'fixed s':>8} {'wall/plain':>11}")
    for mode, m in medians.items():
        ratio = f"{m['wall_s'] / base['wall_s']:.2f}x" if base else "-"
        print(f"{mode:15} {m['wall_s']:8.1f} {m['steps_per_s']:8.2f} {m['startup_s']:8.1f} "
              f"{ratio:>11}")


if __name__ == "__main__":
    main()
