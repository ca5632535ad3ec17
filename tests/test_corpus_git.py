"""Git sources: a real repository made here, two commits, pinned revisions, failing clones."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from codesweep.config.pipeline import SourceConfig
from codesweep.corpus.git import checkout
from codesweep.errors import CodesweepError


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def origin(tmp_path) -> Path:
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "lib.py").write_text("VERSION = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    git(repo, "tag", "v1")
    (repo / "lib.py").write_text("VERSION = 2\n")
    git(repo, "commit", "-qam", "second")
    return repo


@pytest.mark.parametrize("clone", ["partial", "shallow", "full"])
def test_pinned_tag_checks_out_the_old_commit(origin, tmp_path, clone):
    source = SourceConfig(git=f"file://{origin}", revision="v1", clone=clone)
    worktree, commit = checkout(source, 0, tmp_path / "cache")
    assert commit == git(origin, "rev-parse", "v1")
    assert (worktree / "lib.py").read_text() == "VERSION = 1\n"


def test_branch_head_and_commit_pins(origin, tmp_path):
    head, _ = checkout(SourceConfig(git=f"file://{origin}"), 0, tmp_path / "cache")
    assert (head / "lib.py").read_text() == "VERSION = 2\n"
    first = git(origin, "rev-parse", "HEAD~1")
    worktree, commit = checkout(SourceConfig(git=f"file://{origin}", revision=first), 0,
                                tmp_path / "cache")
    assert commit == first and (worktree / "lib.py").read_text() == "VERSION = 1\n"


def test_a_cached_commit_needs_no_network(origin, tmp_path):
    first = git(origin, "rev-parse", "HEAD~1")
    source = SourceConfig(git=f"file://{origin}", revision=first)
    checkout(source, 0, tmp_path / "cache")
    shutil.rmtree(origin)  # the remote is gone: the re-run must use the cache
    worktree, commit = checkout(source, 0, tmp_path / "cache")
    assert commit == first and (worktree / "lib.py").read_text() == "VERSION = 1\n"


def test_failing_clones_are_one_line_errors(origin, tmp_path):
    with pytest.raises(CodesweepError, match=r"^sources\[2\]\.git: cannot clone file://.*nope"):
        checkout(SourceConfig(git=f"file://{tmp_path}/nope"), 2, tmp_path / "cache")
    with pytest.raises(CodesweepError, match=r"^sources\[0\]\.revision: 'v9' not found in file://"):
        checkout(SourceConfig(git=f"file://{origin}", revision="v9"), 0, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.partial"))  # no half-made clone left
