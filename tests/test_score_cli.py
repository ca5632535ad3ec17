"""`codesweep score`: the command-line contract users script against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesweep.cli import app

runner = CliRunner()


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    preds = _jsonl(tmp_path / "p.jsonl", [{"id": "b", "prediction": "y = 2"},
                                          {"id": "a", "prediction": "x = 1"}])
    refs = _jsonl(tmp_path / "r.jsonl", [{"id": "a", "reference": "x = 1"},
                                         {"id": "b", "reference": "y = 3"}])
    return preds, refs


def _score(*args: str):
    return runner.invoke(app, ["score", *map(str, args)])


def test_text_metrics_print_one_json_object(files, tmp_path: Path) -> None:
    per_example = tmp_path / "per.jsonl"
    result = _score("--metric", "exact_match", "--metric", "edit_sim", "--predictions", files[0],
                    "--references", files[1], "--per-example", per_example)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n"] == 2 and out["scores"]["exact_match"] == 50.0
    rows = [json.loads(line) for line in per_example.read_text().splitlines()]
    assert [(r["id"], r["exact_match"]) for r in rows] == [("a", 100.0), ("b", 0.0)]


@pytest.mark.parametrize(("rows", "message"), [
    ([{"id": "a", "prediction": "x"}], 'no prediction for id "b"'),
    ([{"id": "a", "prediction": "x"}, {"id": "b", "prediction": "y"},
      {"id": "c", "prediction": "z"}], 'id "c" not in'),
    ([{"id": "a", "prediction": "x"}, {"id": "a", "prediction": "y"}], ':2: duplicate id "a"'),
    (["{not json"], ":1: not valid JSON"),
    ([{"id": "a", "predicton": "x"}], ':1: missing field "prediction" (did you mean "predicton"?)'),
    ([{"id": 1, "prediction": "x"}], ':1: field "id" must be a string'),
])
def test_input_mistakes_are_one_line_errors(files, tmp_path: Path, rows, message: str) -> None:
    preds = _jsonl(tmp_path / "bad.jsonl", rows)
    result = _score("--metric", "bleu", "--predictions", preds, "--references", files[1])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_unknown_metric_suggests_a_name(files) -> None:
    result = _score("--metric", "chrff", "--predictions", files[0], "--references", files[1])
    assert result.exit_code == 2 and 'did you mean "chrf"' in result.output


def test_pass_at_k_cannot_be_mixed_with_text_metrics(files) -> None:
    result = _score("--metric", "pass@k", "--metric", "bleu", "--samples", files[0])
    assert result.exit_code == 2 and "second call" in result.output


@pytest.fixture
def problems(tmp_path: Path) -> Path:
    test = "def check(f):\n    assert f(2) == 4\n"
    return _jsonl(tmp_path / "problems.jsonl", [
        {"task_id": f"t/{i}", "prompt": f"def f{i}(x):\n", "test": test, "entry_point": f"f{i}"}
        for i in range(2)
    ])


def test_pass_at_k_on_samples(problems: Path, tmp_path: Path) -> None:
    samples = _jsonl(tmp_path / "s.jsonl", [
        {"task_id": "t/0", "completion": "    return x * 2\n"},
        {"task_id": "t/0", "completion": "    return x + 1\n"},
        {"task_id": "t/1", "completion": "    return x + x\n"},
        {"task_id": "t/1", "completion": "    import os; os._exit(0)\n"},
    ])
    per_example = tmp_path / "per.jsonl"
    result = _score("--metric", "pass@k", "--k", "1,2", "--samples", samples, "--problems",
                    problems, "--timeout", "3", "--per-example", per_example)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"scores": {"pass@1": 50.0, "pass@2": 100.0}, "n": 4}
    rows = [json.loads(line) for line in per_example.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["passed", "failed", "passed", "failed"]
    assert set(rows[0]) == {"task_id", "passed", "status", "reason"}


def test_pass_at_k_errors(problems: Path, tmp_path: Path) -> None:
    samples = _jsonl(tmp_path / "s.jsonl", [{"task_id": "t/0", "completion": ""}])
    too_big = _score("--metric", "pass@k", "--k", "5", "--samples", samples, "--problems", problems)
    assert too_big.exit_code == 2 and "every k exceeds" in too_big.output
    bad_k = _score("--metric", "pass@k", "--k", "one", "--samples", samples, "--problems", problems)
    assert bad_k.exit_code == 2 and '--k "one"' in bad_k.output
    unknown = _jsonl(tmp_path / "u.jsonl", [{"task_id": "t/9", "completion": ""}])
    result = _score("--metric", "pass@k", "--samples", unknown, "--problems", problems)
    assert result.exit_code == 2 and 'unknown task_id "t/9"' in result.output


def test_per_example_holds_chrf_and_names_corpus_only_metrics(files, tmp_path: Path) -> None:
    per_example = tmp_path / "per.jsonl"
    result = _score("--metric", "chrf", "--metric", "sacrebleu", "--metric", "edit_sim",
                    "--predictions", files[0], "--references", files[1],
                    "--per-example", per_example)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in per_example.read_text().splitlines()]
    assert rows[0]["chrf"] == 100.0 and 0 < rows[1]["chrf"] < 100
    assert "note: sacrebleu have corpus scores only" in result.stderr


def test_help_lists_metrics_with_descriptions() -> None:
    from codesweep.metrics import available, get_metric

    result = runner.invoke(app, ["score", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in available():
        assert f"{name}: {get_metric(name).description}" in result.output
    assert "pass@k:" in result.output


def test_evaluate_with_nothing_left_starts_no_ray(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pair already scored: the evaluation returns before Ray would start."""
    from codesweep import ray_runtime
    from codesweep.config.schema import EvalSuite
    from codesweep.evaluation import runner as eval_runner
    from codesweep.records import BASE, PreparedDataRef

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray started with nothing to score")

    monkeypatch.setattr(ray_runtime, "ensure_ray", no_ray)
    monkeypatch.setattr(eval_runner, "plan", lambda *args: ([], 1))
    suite = EvalSuite.model_validate({"name": "s", "tasks": [{"name": "t", "dataset": "d"}]})
    inputs = eval_runner.EvalInputs(base_path="/base", base_hash="h",
                                    prepared=PreparedDataRef(root="/d", key="k"))
    outcome = eval_runner.run_evaluation(suite, [BASE], inputs, tmp_path)
    assert (outcome.scored, outcome.reused) == (0, 1)


def test_evaluate_command_leaves_starting_ray_to_the_runner(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from codesweep import experiment, ray_runtime, rundir

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray started before knowing there is work")

    monkeypatch.setattr(ray_runtime, "ensure_ray", no_ray)
    monkeypatch.setattr(experiment, "evaluate", lambda *args: [])
    monkeypatch.setattr(rundir, "read_run", lambda *args: None)  # no real run needed here
    result = runner.invoke(app, ["evaluate", str(tmp_path / "suite.yaml"), "--run",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output + repr(result.exception)


def test_empty_files_are_an_error_not_a_zero_score(tmp_path: Path) -> None:
    preds, refs = tmp_path / "p.jsonl", tmp_path / "r.jsonl"
    preds.write_text("")
    refs.write_text("")
    result = _score("--metric", "bleu", "--predictions", preds, "--references", refs)
    assert result.exit_code == 2, result.output
    assert "r.jsonl: no references" in " ".join(result.output.split())
