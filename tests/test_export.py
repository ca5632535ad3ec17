"""`codesweep export`: adapter + base reference, or merged weights, loadable with the plain
Hugging Face classes, and giving the trained model's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from test_train_tasks import make_workspace, task_spec
from typer.testing import CliRunner

from codesweep.cli import app
from codesweep.models.adapters import load_trained
from codesweep.records import RunRecord, TrialResult
from codesweep.rundir import write_run, write_trials
from codesweep.train.local import run_local


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory shaped like a finished sweep with one trial."""
    root = make_workspace(tmp_path_factory.mktemp("export"))
    spec = task_spec(root, train={"max_steps": 2, "report_every": 2})
    run_dir = root / "run"
    run_local(spec, run_dir / "train" / "trial_a")
    write_run(run_dir, RunRecord(
        name="t", recipe="tuning.yaml", prepared=spec.prepared, base_path=spec.base_path,
        sweep_key="k", tracking_uri="sqlite:///unused.db", experiment="t",
        codesweep_version="test"))
    write_trials(run_dir, [TrialResult(
        trial_id="trial_a", params={}, status="done", final={}, history=[],
        checkpoint=str(run_dir / "train" / "trial_a" / "checkpoint_2"))])
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(spec.recipe.model_dump(by_alias=True)))
    return run_dir


def logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(input_ids=ids).logits


def test_merged_export_loads_as_plain_model(trained_run: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    result = CliRunner().invoke(app, ["export", str(trained_run), "--trial", "trial_a",
                                      "--merge", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(out)
    info = json.loads((trained_run / "run.json").read_text())
    trained, tokenizer = load_trained(info["base_path"], trained_run / "train" / "trial_a" /
                                      "checkpoint_2")
    ids = tokenizer("def f(x):\n    return", return_tensors="pt")["input_ids"]
    torch.testing.assert_close(logits(merged, ids), logits(trained, ids), atol=1e-4, rtol=1e-4)
    assert json.loads((out / "codesweep_export.json").read_text())["merged"] is True


def test_adapter_export_references_its_base(trained_run: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "adapter"
    result = CliRunner().invoke(app, ["export", str(trained_run), "--trial", "trial_a",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "adapter_config.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(config["base_model_name_or_path"])
    model = PeftModel.from_pretrained(base, out)
    assert any("lora_B" in name for name, _ in model.named_parameters())


def test_unknown_trial_is_one_line_error(trained_run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(trained_run), "--trial", "trial_b",
                                      "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "--trial 'trial_b': not in this run" in result.output
    assert "trial_a" in result.output


def test_tiny_base_export_is_self_contained_after_a_move(trained_run: Path,
                                                         tmp_path: Path) -> None:
    """The embedded tiny base lives in a local cache: the export carries it, so the directory
    loads with the README's lines after moving it elsewhere (and the cache is gone)."""
    import shutil

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    recipe_file = trained_run / "recipe.yaml"
    recipe = yaml.safe_load(recipe_file.read_text())
    tiny = {**recipe, "model": {**recipe["model"], "name_or_path": None}}
    recipe_file.write_text(yaml.safe_dump(tiny))
    try:
        out = tmp_path / "adapter"
        result = CliRunner().invoke(app, ["export", str(trained_run), "--trial", "trial_a",
                                          "--out", str(out)])
    finally:
        recipe_file.write_text(yaml.safe_dump(recipe))
    assert result.exit_code == 0, result.output
    moved = shutil.move(str(out), tmp_path / "elsewhere" / "model")
    config = json.loads((Path(moved) / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "base"
    readme = (Path(moved) / "README.md").read_text()
    assert "trial_a" in readme and 'path/to/this/directory/base' in readme
    base = AutoModelForCausalLM.from_pretrained(Path(moved) / "base")
    model = PeftModel.from_pretrained(base, moved)
    assert any("lora_B" in name for name, _ in model.named_parameters())


def test_hub_style_base_reference_is_the_recipe_name(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "adapter"
    result = CliRunner().invoke(app, ["export", str(trained_run), "--trial", "trial_a",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    recipe = yaml.safe_load((trained_run / "recipe.yaml").read_text())
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == recipe["model"]["name_or_path"]
    assert not (out / "base").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".adapter.")]  # no staging


def test_export_of_a_run_on_an_object_store_root(trained_run: Path, tmp_path: Path,
                                                 s3_root, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose base and checkpoints live in S3, exported by name from another machine:
    the run, its checkpoint and its base come down, and the export loads on its own."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from codesweep.mirror import Mirror
    from codesweep.rundir import read_run

    run = read_run(trained_run)
    base = s3_root.child(".cache", "codesweep", "models", "tiny-x")
    base.upload_dir(Path(run.base_path))
    checkpoint = s3_root.child("runs", "s3run", "train", "trial_a", "checkpoint_2")
    checkpoint.upload_dir(trained_run / "train" / "trial_a" / "checkpoint_2")
    first = Mirror(s3_root, tmp_path / "one", "runs/s3run")
    write_run(first.run_dir, run.model_copy(update={"base_path": base.uri}))
    write_trials(first.run_dir, [TrialResult(
        trial_id="trial_a", params={}, status="done", final={"step": 2},
        history=[{"step": 2, "checkpoint_path": checkpoint.uri}], checkpoint=checkpoint.uri)])
    (first.run_dir / "recipe.yaml").write_text((trained_run / "recipe.yaml").read_text())
    first.push_run()
    monkeypatch.setenv("CODESWEEP_MIRROR", str(tmp_path / "two"))
    out = tmp_path / "exported"
    result = CliRunner().invoke(app, ["export", "s3run", "--trial", "trial_a", "--out", str(out),
                                      "--storage", s3_root.uri])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "codesweep_export.json").read_text())["checkpoint"] != \
        checkpoint.uri  # a local copy was loaded, not a URI handed to transformers
    config = json.loads((out / "adapter_config.json").read_text())
    reference = config["base_model_name_or_path"]
    base_dir = out / reference if not Path(reference).is_absolute() else Path(reference)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), out)
    assert any("lora_B" in name for name, _ in model.named_parameters())
