"""`codesweep run` with an object-store root on a real S3-compatible server (moto's, started
by the test): everything the run writes is an object under s3://<bucket>/runs, nothing lands
in the working directory, and a rerun after a SIGKILLed first run resumes from the bucket."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from drill_support import DrillResult, drill_env, start, tiny_workspace
from s3_support import CREDENTIALS, make_bucket
from test_end_to_end import make_repo, write_recipes

pytestmark = pytest.mark.slow


def s3_env(endpoint: str, mirror: Path) -> dict[str, str]:
    """The command's environment: the test server, dummy keys, the mirror outside cwd."""
    env = {key: value for key, value in drill_env().items()
           if key not in {"CODESWEEP_CACHE", "CODESWEEP_STORAGE", "AWS_PROFILE",
                          "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"}}
    return {**env, **CREDENTIALS, "CODESWEEP_S3_ENDPOINT": endpoint,
            "CODESWEEP_MIRROR": str(mirror)}


def objects(endpoint: str, bucket: str, prefix: str = "") -> dict[str, float]:
    """{key: last-modified timestamp} of every object under `prefix` in the bucket."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name=CREDENTIALS["AWS_REGION"],
                          aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.update({o["Key"]: o["LastModified"].timestamp() for o in page.get("Contents", [])})
    return found


def read_object(endpoint: str, bucket: str, key: str) -> bytes:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name=CREDENTIALS["AWS_REGION"],
                          aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def run_command(recipe: Path, bucket: str) -> list[str]:
    return [sys.executable, "-m", "codesweep", "run", str(recipe),
            "--storage", f"s3://{bucket}/runs"]


def files_under(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*")}


def tiny_run(s3_server: str, tmp_path: Path, label: str,
             in_training: dict | None = None) -> tuple[str, str]:
    """`codesweep run` of the tiny recipe into a fresh bucket (its eval suite scoring in
    training when `in_training` is given). It must succeed and write nothing into its
    working directory; returns (bucket, the command's output)."""
    import yaml

    workdir, mirror = tmp_path / "work", tmp_path / "mirror"
    workdir.mkdir()
    recipe = write_recipes(workdir, make_repo(workdir))
    if in_training:
        suite = yaml.safe_load((workdir / "eval.yaml").read_text())
        (workdir / "eval.yaml").write_text(yaml.safe_dump({**suite, "in_training": in_training}))
    before = files_under(workdir)
    bucket = make_bucket(s3_server)
    started = time.monotonic()
    with start(run_command(recipe, bucket), workdir, tmp_path / "run.log",
               s3_env(s3_server, mirror)) as drill:
        result = drill.finish(timeout_s=900)
    print(f"{label}: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.output[-4000:]
    assert files_under(workdir) == before, "the run wrote into the working directory"
    return bucket, result.output


def test_tiny_run_writes_everything_to_the_bucket(s3_server: str, tmp_path: Path) -> None:
    bucket, output = tiny_run(s3_server, tmp_path, "s3 tiny run")

    stored = objects(s3_server, bucket)
    run = "runs/runs/tiny/"
    prepared = [k for k in stored if k.startswith("runs/.cache/codesweep/prepared/")]
    assert any(k.endswith(".parquet") and "/files/train/" in k for k in prepared)
    assert any(k.startswith("runs/.cache/codesweep/models/tiny-") and k.endswith("config.json")
               for k in stored)
    for name in ("run.json", "trials.json", "eval/summary.json", "report/leaderboard.md",
                 "mlflow.db", "sweep_state.json"):
        assert run + name in stored, name
    assert any(k.startswith(run + "mlartifacts/") for k in stored)
    assert any(k.startswith(run + "sweep/") for k in stored)  # Tune's experiment state

    trials = json.loads(read_object(s3_server, bucket, run + "trials.json"))
    assert len(trials) == 2 and all(t["status"] == "done" for t in trials)
    for trial in trials:
        assert trial["checkpoint"].startswith(f"s3://{bucket}/{run}train/")
        key = trial["checkpoint"].removeprefix(f"s3://{bucket}/") + "/adapter_model.safetensors"
        assert key in stored
    summary = json.loads(read_object(s3_server, bucket, run + "eval/summary.json"))
    assert {row["checkpoint"] for row in summary} >= {"base", *(t["trial_id"] for t in trials)}
    record = json.loads(read_object(s3_server, bucket, run + "run.json"))
    assert record["prepared"]["root"].startswith(f"s3://{bucket}/runs/.cache/codesweep/")
    assert record["base_path"].startswith(f"s3://{bucket}/runs/.cache/codesweep/models/")
    assert f"run directory:  s3://{bucket}/{run.rstrip('/')}" in output


def trial_checkpoints(stored: dict[str, float], run: str) -> dict[str, dict[str, float]]:
    """{trial id: {checkpoint object key: last-modified}} under the run's train/."""
    trials: dict[str, dict[str, float]] = {}
    for key, stamp in stored.items():
        if key.startswith(run + "train/") and "/checkpoint_" in key:
            trial = key[len(run + "train/"):].split("/")[0]
            trials.setdefault(trial, {})[key] = stamp
    return trials


def test_sigkilled_run_resumes_from_the_bucket(s3_server: str, tmp_path: Path) -> None:
    workspace = tiny_workspace(tmp_path / "work", num_trials=3, max_steps=6, report_every=2,
                               files=20)
    bucket, mirror = make_bucket(s3_server), tmp_path / "mirror"
    env, run = s3_env(s3_server, mirror), "runs/runs/drill/"
    command = run_command(workspace.recipe, bucket)

    def first_trial_settled() -> bool:
        """Trial two has a checkpoint (one trial at a time: trial one has ended), and Tune
        saved its experiment state to the bucket after trial one's last checkpoint."""
        stored = objects(s3_server, bucket, run)
        trials = trial_checkpoints(stored, run)
        states = [t for k, t in stored.items() if k.startswith(run + "sweep/experiment_state")]
        if len(trials) < 2 or not states:
            return False
        first = min(trials, key=lambda trial: min(trials[trial].values()))
        return max(states) > max(trials[first].values())

    with start(command, workspace.root, tmp_path / "killed.log", env) as drill:
        drill.wait_for(first_trial_settled, "a second trial's checkpoint in the bucket",
                       timeout_s=600)
        drill._signal_group(9)  # SIGKILL to the command's whole process group
        drill.finish()
    before = trial_checkpoints(objects(s3_server, bucket, run), run)
    state = json.loads(read_object(s3_server, bucket, run + "sweep_state.json"))
    assert state["status"] == "running"  # by a driver that is gone

    started = time.monotonic()
    with start(command, workspace.root, tmp_path / "rerun.log", env) as drill:
        result: DrillResult = drill.finish(timeout_s=900)
    print(f"s3 resumed run: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.output[-4000:]
    assert "sweep: resuming the unfinished sweep" in result.output
    after = trial_checkpoints(objects(s3_server, bucket, run), run)
    trials = json.loads(read_object(s3_server, bucket, run + "trials.json"))
    assert len(trials) == 3 and all(t["status"] == "done" for t in trials)
    assert set(after) == {t["trial_id"] for t in trials}  # no trial retrained under a new id
    first = min(before, key=lambda trial: min(before[trial].values()))
    assert after[first] == before[first], f"finished trial {first} was retrained"


def test_checkpoints_scored_during_training_on_the_bucket(s3_server: str, tmp_path: Path) -> None:
    """Scoring while trials train, with checkpoints in S3: each report's checkpoint is loaded
    from the bucket and scored, and retention keeps the checkpoints it should. Ray reports
    them as `bucket/...` paths; read as local paths, every score failed to load and settling
    the finished trials deleted all their checkpoints."""
    bucket, _ = tiny_run(s3_server, tmp_path, "s3 run scored in training",
                         in_training={"examples": 4})
    run = "runs/runs/tiny/"
    stored = objects(s3_server, bucket, run)
    trials = json.loads(read_object(s3_server, bucket, run + "trials.json"))
    assert len(trials) == 2 and all(t["status"] == "done" for t in trials)
    results = [key for key in stored if key.startswith(run + "sweep/")
               and key.endswith("/result.json")]
    assert len(results) == 2  # Tune's own record of each trial's reports, in the bucket
    for key in results:
        rows = [json.loads(line) for line in
                read_object(s3_server, bucket, key).decode().splitlines() if line.strip()]
        assert len(rows) == 2  # max_steps 4 / report_every 2
        assert all(row["checkpoint_path"].startswith(f"s3://{bucket}/{run}train/")
                   for row in rows)
        assert [row["eval.line_completion.status"] for row in rows] == ["ok", "ok"], \
            [row.get("eval.line_completion.reason") for row in rows]
        assert all(0 <= row["eval.line_completion.edit_sim"] <= 100 for row in rows)
    for trial in trials:
        kept = trial_checkpoints(stored, run)[trial["trial_id"]]
        assert trial["checkpoint"].removeprefix(f"s3://{bucket}/") + \
            "/adapter_model.safetensors" in kept
