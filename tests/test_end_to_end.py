"""`codesweep run` end to end on a tiny recipe: a git repository made here, local Ray,
two trials, then every artifact a user relies on is checked."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sysconfig
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from codesweep.cli import app

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def make_repo(root: Path) -> Path:
    """A real git repository of ~60 Python modules copied from the standard library."""
    repo = root / "corpus"
    repo.mkdir()
    for source in sorted(STDLIB.glob("[a-m]*.py"))[:60]:
        (repo / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    for args in (["init", "-q"], ["add", "."],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "corpus"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


def write_recipes(root: Path, repo: Path) -> Path:
    pipeline = {
        "name": "tiny", "sources": [{"path": str(repo)}],
        "dedup": {"near": False},
        "split": {"by": "file", "train": 0.7, "validation": 0.15, "test": 0.15},
        "tasks": [{"builder": "completion", "params": {"context_lines": 8, "stride_lines": 8}}],
    }
    suite = {"name": "tiny", "num_actors": 2, "tasks": [{
        "name": "line_completion", "dataset": "completion", "split": "test", "max_examples": 12,
        "generation": {"max_new_tokens": 8, "batch_size": 12},
        "metrics": ["exact_match", "edit_sim", "bleu"]}]}
    tuning = {
        "name": "tiny", "pipeline": "pipeline.yaml", "eval": "eval.yaml",
        "model": {"tiny": {"vocab_size": 400, "hidden_size": 32, "num_layers": 1,
                           "num_heads": 2, "intermediate_size": 64, "pretrain_steps": 10,
                           "pretrain_batch_size": 4, "pretrain_window": 32}},
        "lora": {"r": 4, "alpha": 8},
        "data": {"window": 32, "micro_batch_size": 4, "val_blocks": 8, "loader": "direct"},
        "train": {"max_steps": 4, "report_every": 2, "num_workers": 1},  # in-process trials
        "sweep": {"num_trials": 2, "space": {"lora.r": {"choice": [2, 4]},
                                             "optim.lr": {"loguniform": [1e-3, 1e-2]}},
                  "scheduler": {"type": "fifo"}},
    }
    for name, data in (("pipeline.yaml", pipeline), ("eval.yaml", suite),
                       ("tuning.yaml", tuning)):
        (root / name).write_text(yaml.safe_dump(data))
    return root / "tuning.yaml"


# What libraries print unasked; none of it may reach a researcher's terminal.
LIBRARY_NOTICES = ("Token authentication is", "Progress bars disabled", "Writing model shards",
                   "A new study created in memory", "Creating initial MLflow database tables",
                   "tensorboard --logdir", "Trial status:", "Running in local mode")


@pytest.fixture(scope="module")
def finished_run(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run, drawn 100 columns wide; what it showed is kept in terminal.txt. Not an
    animated terminal: a recording of one holds every spinner frame on a single line."""
    root = tmp_path_factory.mktemp("e2e")
    recipe = write_recipes(root, make_repo(root))
    run_dir = root / "run"
    terminal = Console(width=100, record=True, force_terminal=False, file=io.StringIO())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("codesweep.cli.console.console", terminal)
        result = CliRunner().invoke(app, ["run", str(recipe), "--run-dir", str(run_dir),
                                          "--cache-dir", str(root / "cache")])
    assert result.exit_code == 0, result.output + repr(result.exception)
    (root / "terminal.txt").write_text(terminal.export_text() + result.output)
    return run_dir


def test_terminal_fits_100_columns_and_stays_quiet(finished_run: Path) -> None:
    shown = (finished_run.parent / "terminal.txt").read_text()
    too_wide = [line[:300] for line in shown.splitlines() if len(line) > 100]
    assert not too_wide, too_wide[:3]
    assert not [notice for notice in LIBRARY_NOTICES if notice in shown], shown
    assert "Leaderboard" in shown and "sweep" in shown and "prepare:" in shown


def test_prepared_parquet_rows(finished_run: Path) -> None:
    info = json.loads((finished_run / "run.json").read_text())
    prepared = Path(info["prepared"]["root"])
    files = {split: pd.read_parquet(prepared / "files" / split)
             for split in ("train", "validation", "test")}
    assert sum(len(f) for f in files.values()) > 40
    assert set(files["train"].columns) >= {"repo", "path", "text", "sha", "split"}
    assert len(pd.read_parquet(prepared / "tasks" / "completion" / "test")) > 0
    assert json.loads((prepared / "manifest.json").read_text())


def test_trials_have_checkpoints_and_curves(finished_run: Path) -> None:
    trials = json.loads((finished_run / "trials.json").read_text())
    assert len(trials) == 2
    for trial in trials:
        assert trial["status"] == "done"
        assert [row["step"] for row in trial["history"]] == [2, 4]
        adapter = Path(trial["checkpoint"]) / "adapter_model.safetensors"
        assert adapter.is_file()
        assert str(finished_run / "train") in trial["checkpoint"]
    assert {t["params"]["lora.r"] for t in trials} <= {2, 4}


def test_one_result_row_per_checkpoint_and_example(finished_run: Path) -> None:
    rows = pd.concat(pd.read_parquet(p) for p in (finished_run / "eval" / "results").glob("*"))
    assert set(rows["checkpoint"]) == {"base", *(t["trial_id"] for t in json.loads(
        (finished_run / "trials.json").read_text()))}
    # every kept checkpoint is scored: base + 2 trials x the checkpoints of steps 2 and 4
    assert rows.groupby("checkpoint").size().to_dict() == {name: 12 if name == "base" else 24
                                                          for name in set(rows["checkpoint"])}
    assert {"prompt", "prediction", "reference", "edit_sim", "exact_match"} <= set(rows.columns)
    assert rows["edit_sim"].between(0, 100).all()
    assert not rows["prediction"].str.contains("\n").any()  # cut at the stop string
    timings = json.loads((finished_run / "eval" / "timings.json").read_text())
    assert set(timings) == {"actor_start_s", "model_load_s", "generate_s", "score_s"}
    assert timings["actor_start_s"] > 0 and timings["generate_s"] > 0


def test_mlflow_children_hold_params_and_metrics(finished_run: Path) -> None:
    with sqlite3.connect(finished_run / "mlflow.db") as db:
        children = db.execute(
            "select r.run_uuid, r.name from runs r join tags t on t.run_uuid = r.run_uuid "
            "where t.key = 'mlflow.parentRunId'").fetchall()
        assert len(children) == 3  # base + 2 trials
        for run_id, name in children:
            keys = {k for (k,) in db.execute(
                "select key from metrics where run_uuid = ?", (run_id,))}
            assert "eval.line_completion.edit_sim" in keys
            if name != "base":
                assert {"train_loss", "val_loss"} <= keys
                params = {k for (k,) in db.execute(
                    "select key from params where run_uuid = ?", (run_id,))}
                assert {"lora.r", "optim.lr"} <= params


def test_report_files(finished_run: Path) -> None:
    report = finished_run / "report"
    leaderboard = (report / "leaderboard.md").read_text()
    assert "| base |" in leaderboard and "## Best trial" in leaderboard
    for png in ("eval_line_completion_edit_sim.png", "loss_curves.png"):
        assert (report / png).read_bytes()[:4] == b"\x89PNG"


def test_second_run_reuses_every_stage(finished_run: Path) -> None:
    info = json.loads((finished_run / "run.json").read_text())
    cache = Path(info["prepared"]["root"]).parents[1]
    result = CliRunner().invoke(app, ["run", info["recipe"], "--run-dir", str(finished_run),
                                      "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    assert "prepare: reused" in result.output
    assert "sweep: reused" in result.output
    assert "pairs: 0 scored, 5 reused" in result.output
