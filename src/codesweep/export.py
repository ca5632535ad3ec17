"""`codesweep export`: a trained checkpoint as a Hugging Face model directory.

Without `--merge` the directory holds the adapter plus a reference to its base
(`adapter_config.json: base_model_name_or_path`), loadable with `PeftModel.from_pretrained`
(or `AutoModelForCausalLM.from_pretrained`, which follows the reference). With `--merge` the
adapter is folded into the base weights and the directory is a plain model. A QLoRA adapter
was trained against the 4-bit base, so merging dequantizes that base first (on a GPU with
bitsandbytes) and says so; elsewhere it merges into the full-precision base and says that.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import typer

from codesweep.config.loader import load_recipe
from codesweep.config.schema import TuningRecipe
from codesweep.errors import CodesweepError, did_you_mean
from codesweep.runs import read_json, write_json

EXPORT_INFO = "codesweep_export.json"


def find_checkpoint(run_dir: Path, trial: str) -> tuple[Path, str]:
    """(checkpoint dir, base model path) of a sweep trial or a `codesweep train` run."""
    sources = []
    if (run_dir / "trials.json").is_file():
        info = read_json(run_dir / "run.json", "run.json")
        sources += [(t["trial_id"], t["checkpoint"], info["base_path"])
                    for t in read_json(run_dir / "trials.json", "trials.json")]
    if (run_dir / "train.json").is_file():
        train = read_json(run_dir / "train.json", "train.json")
        sources.append((train["name"], train["checkpoint"], train["base_path"]))
    if not sources:
        raise CodesweepError(f"{run_dir}: no trials.json or train.json: not a finished run")
    ids = [name for name, _, _ in sources]
    for name, checkpoint, base in sources:
        if name == trial and checkpoint:
            return Path(checkpoint), base
        if name == trial:
            raise CodesweepError(f"--trial {trial}: this trial left no checkpoint (it failed)")
    raise CodesweepError(f"--trial {trial!r}: not in this run{did_you_mean(trial, ids)}; "
                         f"trials: {', '.join(ids)}")


def export_checkpoint(base_path: str, checkpoint: Path, out: Path, merge: bool,
                      recipe: TuningRecipe | None = None, log: Any = print) -> Path:
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
                      log: Any) -> tuple[Any, Any]:
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


def export_command(run_dir: Path = typer.Argument(..., help="run directory"),
                   trial: str = typer.Option(..., "--trial", help="trial id (or train run name)"),
                   merge: bool = typer.Option(False, "--merge", help="fold the adapter in"),
                   out: Path = typer.Option(..., "--out", help="output model directory")) -> None:
    """Export a trial's checkpoint as a Hugging Face model directory (adapter or merged)."""
    from codesweep.flow import console

    run_dir = run_dir.resolve()
    checkpoint, base_path = find_checkpoint(run_dir, trial)
    recipe_file = run_dir / "recipe.yaml"
    recipe = load_recipe(recipe_file, TuningRecipe) if recipe_file.is_file() else None
    export_checkpoint(base_path, checkpoint, out, merge, recipe, log=console.print)
    write_json(out / EXPORT_INFO, {"run": str(run_dir), "trial": trial,
                                   "checkpoint": str(checkpoint), "base": base_path,
                                   "merged": merge})
    console.print(f"exported {trial} ({'merged' if merge else 'adapter + base reference'}) "
                  f"to {out}")
