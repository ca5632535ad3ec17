"""`codesweep prepare` from the command line, a git source, and a real stdlib subset."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
from test_prepare_pipeline import distinct_module
from typer.testing import CliRunner

from codesweep.cli import app
from codesweep.config.loader import load_recipe
from codesweep.config.pipeline import PipelineConfig
from codesweep.corpus.pipeline import prepare

REPO_ROOT = Path(__file__).resolve().parents[1]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def write_recipe(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def test_cli_runs_with_overrides_and_prints_the_summary(ray_session, tmp_path):
    (tmp_path / "code").mkdir()
    for number in range(6):
        (tmp_path / "code" / f"m{number}.py").write_text(distinct_module(number))
    recipe = write_recipe(tmp_path / "r.yaml", "name: cli\nsources:\n  - path: code\n")
    runner = CliRunner()
    args = ["prepare", str(recipe), "-o", "split.train=1.0", "-o", "split.validation=0",
            "-o", "split.test=0", "--cache-dir", str(tmp_path / "cache")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "files per stage" in result.output and "written:" in result.output
    [out] = (tmp_path / "cache" / "prepared").iterdir()
    assert len(pd.read_parquet(out / "files" / "train")) == 6
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "reused" in again.output


def test_cli_broken_recipe_is_one_line_and_exit_2(tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", "name: x\nsources:\n  - path: .\nfilter: {}\n")
    result = CliRunner().invoke(app, ["prepare", str(recipe), "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and 'filter: unknown key (did you mean "filters"?)' in lines[0]
    recipe.write_text("name: x\nsources: [{path: ., git: 'file:///x'}]\n")
    result = CliRunner().invoke(app, ["prepare", str(recipe), "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2 and "exactly one of path" in result.output
    recipe.write_text("name: x\nsources: [{path: .}]\nsplit: {train: 0.9}\n")
    result = CliRunner().invoke(app, ["prepare", str(recipe), "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2 and "must sum to 1" in result.output


def test_git_source_at_a_pinned_tag_is_recorded(ray_session, tmp_path):
    origin = tmp_path / "origin"
    (origin / "src").mkdir(parents=True)
    git(origin, "init", "-q", "-b", "main")
    for number in range(5):
        (origin / "src" / f"m{number}.py").write_text(distinct_module(number))
    git(origin, "add", ".")
    git(origin, "commit", "-qm", "first")
    git(origin, "tag", "v1")
    (origin / "src" / "late.py").write_text(distinct_module(50))
    git(origin, "add", ".")
    git(origin, "commit", "-qm", "second")
    config = PipelineConfig.model_validate({
        "name": "gitsrc", "sources": [{"git": f"file://{origin}", "revision": "v1"}],
        "split": {"train": 1.0, "validation": 0.0, "test": 0.0}, "decontam": {"enabled": False}})
    result = prepare(config, recipe_dir=tmp_path, cache_root=tmp_path / "cache")
    [source] = result.manifest["sources"]
    assert source["revision"] == git(origin, "rev-parse", "v1")
    assert source["requested_revision"] == "v1"
    files = pd.read_parquet(result.path / "files" / "train")
    assert sorted(files["path"]) == [f"src/m{n}.py" for n in range(5)]
    assert set(files["revision"]) == {source["revision"]} and set(files["repo"]) == {"origin"}


def test_quickstart_recipe_on_a_stdlib_subset(ray_session, tmp_path):
    recipe = REPO_ROOT / "pipelines" / "quickstart.yaml"
    subset = 'sources=[{path: stdlib, include: ["json/**/*.py", "email/**/*.py"]}]'
    config = load_recipe(recipe, PipelineConfig, [subset])
    result = prepare(config, recipe_dir=recipe.parent, cache_root=tmp_path)
    counts = result.manifest["counts"]
    assert counts["listed"] > 30 and counts["kept"] > 25
    assert result.manifest["sources"][0]["kind"] == "stdlib"
    train = pd.read_parquet(result.path / "tasks" / "completion" / "train")
    assert len(train) > 100 and train["completion"].str.len().min() > 0
    paths = pd.read_parquet(result.path / "files" / "train")["path"]
    assert not any("/test" in path for path in paths)
