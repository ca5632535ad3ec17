"""A trained checkpoint as a Hugging Face model directory (`codesweep export` prints it).

Without `--merge` the directory holds the adapter plus a reference to its base
(`adapter_config.json: base_model_name_or_path`), loadable with `PeftModel.from_pretrained`
(or `AutoModelForCausalLM.from_pretrained`, which follows the reference). The reference is the
recipe's `model.name_or_path` as the user wrote it (a hub id works on any machine); the
embedded tiny model exists only in a local cache, so it is copied into `base/` and the
directory is self-contained. README.md says what the model is, its data, scores and how to
load it. With `--merge` the
adapter is folded into the base weights and the directory is a plain model. A QLoRA adapter
was trained against the 4-bit base, so merging dequantizes that base first (on a GPU with
bitsandbytes) and says so; elsewhere it merges into the full-precision base and says that.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codesweep import __version__
from codesweep.config.loader import load_recipe
from codesweep.config.schema import TuningRecipe
from codesweep.errors import CodesweepError, did_you_mean
from codesweep.fileio import write_json, write_text
from codesweep.records import CheckpointRef
from codesweep.rundir import RECIPE, has_trials, read_run, read_train, read_trials
from codesweep.storage import fetched, ref_for

EXPORT_INFO = "codesweep_export.json"
ADAPTER_CONFIG = "adapter_config.json"
TINY_BASE_DIR = "base"  # the embedded tiny base, copied into the export


def trained_models(run_dir: Path) -> list[tuple[str, str | None, str]]:
    """(trial id or train name, checkpoint or None, base model) of everything a run trained."""
    trained = []
    if has_trials(run_dir):
        base_path = read_run(run_dir).base_path
        trained += [(t.trial_id, t.checkpoint, base_path) for t in read_trials(run_dir)]
    train = read_train(run_dir)
    if train:
        trained.append((train.name, train.checkpoint, train.base_path))
    if not trained:
        raise CodesweepError(f"{run_dir}: no trials.json or train.json: not a finished run")
    return trained


def find_checkpoint(run_dir: Path, trial: str, step: int | None = None) -> tuple[Path, str]:
    """(checkpoint dir, base model path) of a sweep trial or a `codesweep train` run: the
    checkpoint of `step`, else the trial's best under the sweep metric, else its last."""
    trained = trained_models(run_dir)
    ids = [name for name, _, _ in trained]
    for name, checkpoint, base in trained:
        if name == trial and checkpoint:
            chosen = _pick_step(run_dir, trial, checkpoint, step)
            # an object-store checkpoint or base comes down once, to this machine's temp dir
            return Path(str(fetched(chosen))), str(fetched(base))
        if name == trial:
            raise CodesweepError(f"--trial {trial}: this trial left no checkpoint (it failed)")
    raise CodesweepError(f"--trial {trial!r}: not in this run{did_you_mean(trial, ids)}; "
                         f"trials: {', '.join(ids)}")


def _pick_step(run_dir: Path, trial: str, last: str, step: int | None) -> str:
    from codesweep.evaluation.best import best_steps

    retained = {ref.step: str(ref.path) for ref in _kept_checkpoints(run_dir, trial, last)}
    if step is not None:
        if step not in retained:
            raise CodesweepError(f"--step {step}: trial {trial} kept no checkpoint of that "
                                 f"step; kept steps: {', '.join(map(str, retained)) or 'none'}")
        return retained[step]
    best = best_steps(run_dir).get(trial) if has_trials(run_dir) else None
    return retained.get(best, last) if best is not None else last


def _kept_checkpoints(run_dir: Path, trial: str, last: str) -> list[CheckpointRef]:
    """The checkpoints a trial kept: listed beside its last one on a local disk; on an object
    store, those its history reported that storage still holds."""
    from codesweep.evaluation.best import retained_checkpoints
    from codesweep.experiment import stored_checkpoints

    if ref_for(last).is_local:
        return retained_checkpoints(trial, str(fetched(last)))
    result = next((t for t in read_trials(run_dir) if t.trial_id == trial), None) \
        if has_trials(run_dir) else None
    return stored_checkpoints(result) if result else []


def export_checkpoint(base_path: str, checkpoint: Path, out: Path, merge: bool,
                      recipe: TuningRecipe | None = None,
                      log: Callable[[str], None] = print) -> Path:
    """Write `checkpoint` as a model directory under `out`; return `out`."""
    from codesweep.models.adapters import is_full_checkpoint, load_trained

    if out.exists() and any(out.iterdir()):
        raise CodesweepError(f"--out {out}: directory exists and is not empty")
    if is_full_checkpoint(checkpoint):
        shutil.copytree(checkpoint, out, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("trainer_state.pt", "rng_state.pkl",
                                                      "step.pt", "deepspeed"))
        log("full fine-tune: the checkpoint already is a whole model (nothing to merge)")
        return out
    bits = recipe.model.quantization.bits if recipe else 0
    dtype = recipe.model.dtype if recipe else "auto"
    if merge and bits:
        model, tokenizer = _load_dequantized(base_path, checkpoint, bits, dtype, log)
    else:
        model, tokenizer = load_trained(base_path, checkpoint, dtype)
    if merge:
        model = model.merge_and_unload()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _load_dequantized(base_path: str, checkpoint: Path, bits: int, dtype: str,
                      log: Callable[[str], None]) -> tuple[Any, Any]:
    """The adapter over the base it was trained against: the k-bit base, dequantized."""
    import importlib.util

    import torch

    from codesweep.models.adapters import load_trained

    if not (torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes")):
        log(f"QLoRA adapter ({bits}-bit base): no CUDA/bitsandbytes here, so merging into the "
            "full-precision base; outputs differ slightly from the quantized model's")
        return load_trained(base_path, checkpoint, dtype)
    from peft import PeftModel

    from codesweep.config.schema import QuantizationConfig
    from codesweep.models.factory import load_base_model, load_tokenizer
    from codesweep.models.quantization import bnb_config

    log(f"QLoRA adapter: dequantizing the {bits}-bit base before merging")
    quantized = load_base_model(base_path, dtype, device_map={"": 0},
                                quantization_config=bnb_config(QuantizationConfig(bits=bits)))
    base = quantized.dequantize()
    tokenizer_src = checkpoint if (checkpoint / "tokenizer_config.json").is_file() else base_path
    return PeftModel.from_pretrained(base, str(checkpoint)), load_tokenizer(tokenizer_src)


def export_run(run_dir: Path, trial: str, out: Path, merge: bool,
               log: Callable[[str], None], step: int | None = None) -> Path:
    """Export `trial` of `run_dir` (its best checkpoint unless `step` names one) to `out`
    with the run's recipe; record what was exported. The directory is written next to `out`
    and renamed into place when complete."""
    checkpoint, base_path = find_checkpoint(run_dir, trial, step)
    recipe_file = run_dir / RECIPE
    recipe = load_recipe(recipe_file, TuningRecipe) if recipe_file.is_file() else None
    if out.exists() and any(out.iterdir()):
        raise CodesweepError(f"--out {out}: directory exists and is not empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        export_checkpoint(base_path, checkpoint, staging, merge, recipe, log=log)
        base_ref = None if merge or is_full(staging) else point_at_portable_base(
            staging, base_path, recipe)
        write_json(staging / EXPORT_INFO, {"run": str(run_dir), "trial": trial,
                                           "checkpoint": str(checkpoint), "base": base_path,
                                           "base_reference": base_ref, "merged": merge})
        write_text(staging / "README.md", model_card(run_dir, trial, recipe, base_ref))
        if out.exists():
            out.rmdir()  # empty (checked above)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def is_full(directory: Path) -> bool:
    """True when the exported directory is a whole model (no adapter config)."""
    return not (directory / ADAPTER_CONFIG).is_file()


def point_at_portable_base(out: Path, base_path: str, recipe: TuningRecipe | None) -> str:
    """Make the adapter's base reference work elsewhere; return it. The recipe's own
    `model.name_or_path` stays as written; the cached tiny base is copied to `base/` and
    referenced relatively (load it from the export directory, as the README shows)."""
    given = recipe.model.name_or_path if recipe else None
    reference = given or TINY_BASE_DIR
    if not given:
        shutil.copytree(base_path, out / TINY_BASE_DIR)
    config_path = out / ADAPTER_CONFIG
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = reference
    write_json(config_path, config)
    return reference


def model_card(run_dir: Path, trial: str, recipe: TuningRecipe | None,
               base_ref: str | None) -> str:
    """README.md of an export: what it is, what it was trained on, its scores, how to load."""
    from codesweep.rundir import SUMMARY, read_summary

    run = read_run(run_dir)
    summary = read_summary(run_dir) if run_dir.joinpath(*SUMMARY).is_file() else []
    kind = "a LoRA adapter" if base_ref else "a full model (adapter merged or full fine-tune)"
    scores = [f"- {r.task} (n={r.n}): " + ", ".join(f"{k} {v:.2f}" for k, v in r.scores.items())
              for r in summary if r.checkpoint == trial]
    trials = read_trials(run_dir) if has_trials(run_dir) else []
    params = next((t.params for t in trials if t.trial_id == trial), {})
    lines = [f"# {run.name}: {trial}", "",
             f"This directory is {kind} exported by codesweep {__version__} from run "
             f"`{run.name}`, trial `{trial}`.", "",
             "## Trained on", "",
             f"- data: `{run.prepared.name}` (prepared by the recipe's pipeline)",
             f"- recipe: `{Path(run.recipe).name}`"
             + (f", {recipe.train.max_steps} steps" if recipe else ""),
             *(f"- `{key}`: {value}" for key, value in params.items()), "",
             "## Scores (0-100, held-out split)", "", *(scores or ["- not evaluated"]), "",
             "## Load", "", "```python", *_load_lines(base_ref), "```", ""]
    return "\n".join(lines)


def _load_lines(base_ref: str | None) -> list[str]:
    """The two lines that load this directory (run from inside it for a copied base)."""
    if base_ref is None:
        return ["from transformers import AutoModelForCausalLM",
                'model = AutoModelForCausalLM.from_pretrained("path/to/this/directory")']
    base = f'"path/to/this/directory/{TINY_BASE_DIR}"' if base_ref == TINY_BASE_DIR \
        else repr(base_ref)
    return ["from peft import PeftModel; from transformers import AutoModelForCausalLM",
            f"model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained({base}), "
            '"path/to/this/directory")']

