"""Does ASHA+TPE find a good trial with less training than plain random search?

Both strategies get the same search budget in trial-steps (training steps summed over every
trial) on the tiny model, and both run through codesweep's own sweep (`run_sweep`: the
trial driver, Ray Train local mode, Tune's bookkeeping):

  asha+tpe   the recipe's `sweep:` as codesweep builds it: Optuna (TPE) + ASHA; it gets
             --asha-trials trials, and its reports count only while the budget lasts
  random     Optuna's RandomSampler in place of TPE, FIFO (every trial runs all its steps);
             --random-trials full-length trials set the budget

Prints, per strategy, medians over --seeds sweep seeds: trial-steps spent until the best
score was first reported, the best val_loss reached within the budget, trial-steps spent in
all, and trials stopped early; then the ratio asha+tpe / random.

    python bench/sweep_efficiency.py --steps 60 --report-every 10 --random-trials 4 \\
        --asha-trials 8 --seeds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).parent))  # the workspace of bench/train_overhead.py
from train_overhead import TINY, make_workspace, stdlib_texts  # noqa: E402

from codesweep.config.schema import TuningRecipe  # noqa: E402
from codesweep.records import PreparedDataRef, TrialSpec  # noqa: E402

STRATEGIES = ("asha+tpe", "random")
SPACE = {"optim.lr": {"loguniform": [1.0e-4, 3.0e-2]},
         "lora.r": {"choice": [4, 8, 16, 32]},
         "optim.warmup_steps": {"int": [0, 20]}}


@dataclass
class Report:
    """One result a trial reported, in the order Tune received them."""

    trial_id: str
    step: int
    val_loss: float


@dataclass
class ReportLog:
    """Every report of one sweep, in arrival order (fed by a Tune callback)."""

    reports: list[Report] = field(default_factory=list)

    def callback(self) -> Any:
        """A Tune Callback appending each trial result to `reports`."""
        from ray.tune import Callback

        log = self

        class Record(Callback):
            def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                                result: dict[str, Any], **info: Any) -> None:
                log.reports.append(Report(trial.trial_id, int(result["step"]),
                                          float(result["val_loss"])))

        return Record()


def recipe(args: argparse.Namespace, strategy: str, seed: int) -> TuningRecipe:
    """The bench recipe: the tiny model, a small search space, the strategy's scheduler."""
    asha = strategy == "asha+tpe"
    return TuningRecipe(
        name="sweep-efficiency", pipeline="-", model={"name_or_path": args.model_dir},
        data={"window": 128, "micro_batch_size": 8, "val_blocks": 16, "loader": "direct"},
        train={"max_steps": args.steps, "report_every": args.report_every, "num_workers": 1,
               "keep_checkpoints": 1},
        sweep={"num_trials": args.asha_trials if asha else args.random_trials,
               "metric": "val_loss", "seed": seed, "space": SPACE,
               "max_concurrent_trials": args.concurrent,
               "scheduler": {"type": "asha" if asha else "fifo",
                             "grace_period": args.grace_period,
                             "reduction_factor": args.reduction_factor}})


@contextmanager
def searcher_for(strategy: str, seed: int) -> Any:
    """TPE is the sweep's own searcher; random search swaps in Optuna's RandomSampler."""
    if strategy == "asha+tpe":
        yield
        return
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    def random_searcher(_recipe: TuningRecipe) -> Any:
        return OptunaSearch(sampler=optuna.samplers.RandomSampler(seed=seed))

    with mock.patch("codesweep.tune.sweep._searcher", random_searcher):
        yield


def run_strategy(root: Path, args: argparse.Namespace, strategy: str, seed: int) -> dict:
    """One sweep; its reports cut at the budget, summarised."""
    from codesweep.tune.sweep import run_sweep

    run_dir = Path(tempfile.mkdtemp(dir=root, prefix=f"{strategy}-{seed}-"))
    spec = TrialSpec(recipe=recipe(args, strategy, seed), base_path=args.model_dir,
                     prepared=PreparedDataRef(root=str(root), key="bench"),
                     train_dir=str(run_dir / "train"))
    log = ReportLog()
    start = time.perf_counter()
    with searcher_for(strategy, seed):
        trials, interrupted = run_sweep(spec, run_dir, resume=False, callbacks=[log.callback()])
    wall = time.perf_counter() - start
    failed = [t.error for t in trials if t.status != "done"]
    if interrupted or failed:
        raise SystemExit(f"{strategy} seed {seed}: sweep did not finish: {failed[:1]}")
    stopped = sum(1 for t in trials if (t.final.get("step") or 0) < args.steps)
    return {**summarise(log.reports, args.random_trials * args.steps),
            "stopped": stopped, "trials": len(trials), "wall_s": wall}


def summarise(reports: list[Report], budget: int) -> dict:
    """Best val_loss within `budget` trial-steps, and trial-steps spent when first reached."""
    last_step: dict[str, int] = {}
    spent, best, spent_at_best = 0, float("inf"), 0
    for report in reports:
        spent_now = spent + report.step - last_step.get(report.trial_id, 0)
        if spent_now > budget:
            break
        spent, last_step[report.trial_id] = spent_now, report.step
        if report.val_loss < best:
            best, spent_at_best = report.val_loss, spent
    return {"to_best": spent_at_best, "best": best, "spent": spent}


def prepare_model(root: Path, pretrain_steps: int) -> str:
    """The workspace's tiny model, pre-trained briefly so fine-tuning starts from a real base."""
    if not pretrain_steps:
        return str(root / "model")
    from codesweep.models.factory import load_base_model, load_tokenizer, save_atomically
    from codesweep.train.pretrain import pretrain

    model, tokenizer = load_base_model(root / "model"), load_tokenizer(root / "model")
    cfg = TINY.model_copy(update={"pretrain_steps": pretrain_steps})
    pretrain(model, tokenizer, stdlib_texts()[:-20], cfg, log=lambda line: None)
    save_atomically(model, tokenizer, root / "pretrained")
    return str(root / "pretrained")


def print_table(rows: dict[str, list[dict]], args: argparse.Namespace) -> None:
    """Medians per strategy, then the ratio asha+tpe / random."""
    keys = ("to_best", "best", "spent", "stopped", "trials", "wall_s")
    medians = {s: {k: statistics.median(r[k] for r in runs) for k in keys}
               for s, runs in rows.items()}
    print(f"\nbudget {args.random_trials} x {args.steps} = {args.random_trials * args.steps} "
          f"trial-steps, report every {args.report_every}; ASHA grace {args.grace_period} "
          f"reports, reduction {args.reduction_factor}; median of {len(args.seed_list)} seeds")
    print(f"{'strategy':10} {'steps to best':>14} {'best val_loss':>14} {'steps spent':>12} "
          f"{'stopped early':>14} {'trials':>7} {'wall s':>7}")
    for strategy, m in medians.items():
        print(f"{strategy:10} {m['to_best']:14.0f} {m['best']:14.4f} {m['spent']:12.0f} "
              f"{m['stopped']:14.0f} {m['trials']:7.0f} {m['wall_s']:7.1f}")
    if set(medians) == set(STRATEGIES):
        asha, rand = medians["asha+tpe"], medians["random"]
        print(f"{'ratio':10} {asha['to_best'] / rand['to_best']:13.2f}x "
              f"{asha['best'] / rand['best']:13.3f}x {asha['spent'] / rand['spent']:11.2f}x")
    for strategy, runs in rows.items():
        per_seed = ", ".join(f"{r['best']:.4f}@{r['to_best']}" for r in runs)
        print(f"  {strategy} per seed (best@steps): {per_seed}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="max steps of one trial")
    parser.add_argument("--report-every", type=int, default=10, help="steps per ASHA report")
    parser.add_argument("--random-trials", type=int, default=4,
                        help="full-length random trials; sets the budget")
    parser.add_argument("--asha-trials", type=int, default=8)
    parser.add_argument("--grace-period", type=int, default=1)
    parser.add_argument("--reduction-factor", type=int, default=2)
    parser.add_argument("--concurrent", type=int, default=None,
                        help="trials at once (default: the sweep's own choice)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pretrain-steps", type=int, default=100)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    args = parser.parse_args()
    args.seed_list = list(range(args.seeds))
    return args


def main() -> None:
    args = parse_args()
    from codesweep.ray_runtime import ensure_ray

    ensure_ray()  # one Ray session for every sweep
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp))
        args.model_dir = prepare_model(root, args.pretrain_steps)
        rows = {s: [run_strategy(root, args, s, seed) for seed in args.seed_list]
                for s in args.strategies.split(",")}
    print_table(rows, args)


if __name__ == "__main__":
    main()
