"""A full disk, a read-only file system and a forbidden directory, for real: a 1 MiB tmpfs
in a private mount namespace. Each is one line naming the path, and the atomic writer
leaves the old file as it was and no staging file behind."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from codesweep.errors import CodesweepError
from codesweep.fileio import write_json
from codesweep.resources import one_line_resource_errors, resource_error

SRC = Path(__file__).resolve().parents[1] / "src"

# Runs inside the private mount namespace: `mount` holds the commands that prepare the
# tmpfs at $1 (full, read-only, ...), then the writer tries to replace run/trials.json.
SCENARIO = r"""
set -e
mount -t tmpfs -o size=1m tmpfs "$1"
mkdir "$1/run"
echo '{"old": true}' > "$1/run/trials.json"
sqlite3_db="$1/run/mlflow.db"
"$PYTHON" -c "import sqlite3; sqlite3.connect('$sqlite3_db').execute('create table t (x)')"
case "$2" in
  full) dd if=/dev/zero of="$1/filler" bs=64k 2>/dev/null || true ;;
  readonly) mount -o remount,ro "$1" ;;
  forbidden) chmod 555 "$1/run" ;;
esac
exec $3 "$PYTHON" -c "$WRITER" "$1"
"""
WRITER = r"""
import json, sqlite3, sys
from pathlib import Path
from codesweep.errors import CodesweepError
from codesweep.fileio import write_json
from codesweep.resources import one_line_resource_errors
run = Path(sys.argv[1]) / "run"
result = {}
try:
    write_json(run / "trials.json", {"trials": ["x" * 100] * 5000})  # 500 kB
except CodesweepError as exc:
    result["error"] = str(exc)
try:
    with one_line_resource_errors():
        sqlite3.connect(run / "mlflow.db").execute("insert into t values (1)").connection.commit()
except CodesweepError as exc:
    result["mlflow"] = str(exc)
result["files"] = sorted(p.name for p in run.iterdir())
result["trials"] = (run / "trials.json").read_text()
print(json.dumps(result))
"""


def run_scenario(tmp_path: Path, scenario: str, wrapper: str = "") -> dict:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", SCENARIO, "sh",
         str(mount_point), scenario, wrapper],
        env={**os.environ, "PYTHONPATH": str(SRC), "PYTHON": sys.executable, "WRITER": WRITER},
        capture_output=True, text=True, timeout=120)
    if done.returncode and "unshare" in done.stderr + done.stdout:
        pytest.skip(f"no private mount namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


needs_root_mounts = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare to mount")


@needs_root_mounts
def test_full_disk_is_one_line_and_leaves_the_old_file(tmp_path: Path) -> None:
    result = run_scenario(tmp_path, "full")
    target = tmp_path / "disk" / "run" / "trials.json"
    assert result["error"] == (f"{target}: no space left on the device (0 B free); free some "
                               "space there or point the run directory or cache at a bigger disk")
    assert result["files"] == ["mlflow.db", "trials.json"]  # no staging file left
    assert json.loads(result["trials"]) == {"old": True}


@needs_root_mounts
def test_read_only_run_dir_is_one_line(tmp_path: Path) -> None:
    result = run_scenario(tmp_path, "readonly")
    target = tmp_path / "disk" / "run" / "trials.json"
    assert result["error"] == (f"{target}: the file system is read-only; use a writable run "
                               "directory or cache")
    assert result["mlflow"].startswith("MLflow store: the MLflow store is read-only")
    assert result["files"] == ["mlflow.db", "trials.json"]
    assert json.loads(result["trials"]) == {"old": True}


@needs_root_mounts
@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv to drop root's override")
def test_forbidden_run_dir_is_one_line(tmp_path: Path) -> None:
    without_override = "setpriv --bounding-set -dac_override,-dac_read_search"
    result = run_scenario(tmp_path, "forbidden", without_override)
    target = tmp_path / "disk" / "run" / "trials.json"
    assert result["error"] == (f"{target}: permission denied; make it writable for this user "
                               "or use another directory")
    assert json.loads(result["trials"]) == {"old": True}


def test_unclassified_errors_pass_through_unchanged(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), one_line_resource_errors():
        (tmp_path / "absent" / "x").read_text()
    assert resource_error(ValueError("nothing to do with disks")) is None


def test_causes_are_searched_and_the_given_path_fills_in(tmp_path: Path) -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("logging a metric failed") from inner
    except RuntimeError as outer:
        error = resource_error(outer, tmp_path / "x.json")
    assert isinstance(error, CodesweepError)
    assert str(error).startswith(f"{tmp_path / 'x.json'}: no space left on the device (")


def test_sqlite_disk_full_in_words_is_recognised() -> None:
    error = resource_error(sqlite3.OperationalError("database or disk is full"), "mlflow.db")
    assert str(error).startswith("mlflow.db: no space left on the device;")


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "run.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]


def test_full_disk_inside_a_ray_data_write_is_found_behind_its_wrappers() -> None:
    """Ray Data raises the task's RayTaskError(OSError) `from` its own SystemException; the
    OSError with the errno is only the task error's `cause`."""
    import ray.exceptions

    from codesweep.resources import resource_error

    remote = ray.exceptions.RayTaskError(
        "write", "tb", OSError(errno.ENOSPC, "No space left on device")).as_instanceof_cause()
    try:
        try:
            raise RuntimeError("SystemException")
        except RuntimeError as wrapper:
            raise remote from wrapper
    except OSError as raised:
        error = resource_error(raised, "/cache/prepared/quickstart-1234")
    assert error is not None
    assert str(error).startswith("/cache/prepared/quickstart-1234: no space left on the device")
