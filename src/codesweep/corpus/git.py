"""Git sources: clone once into the cache, then check out a pinned revision per commit.

Layout under `<cache>/git/`: `<slug>-<urlhash>.repo` is the clone (no working tree) that later
runs fetch into, and `<slug>-<urlhash>@<commit12>/` is a worktree of one commit. A full
40-hex commit already present is used without touching the network.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from codesweep.config.pipeline import SourceConfig
from codesweep.errors import CodesweepError

FULL_SHA = re.compile(r"[0-9a-f]{40}")


def run_git(args: list[str], cwd: Path | None = None) -> str:
    """Run git without prompts; return stdout or raise CalledProcessError with stderr."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                               env={**os.environ, **env}, timeout=3600)
    if completed.returncode != 0:
        raise subprocess.CalledProcessError(completed.returncode, args, completed.stdout,
                                            completed.stderr)
    return completed.stdout.strip()


def last_line(error: subprocess.CalledProcessError) -> str:
    """The most telling line of git's stderr: its first fatal/error line (the cause)."""
    lines = [line.strip() for line in (error.stderr or "").splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines[-1:] or ["git failed"])[0]


def cache_slug(url: str) -> str:
    """A readable, unique directory name for a URL."""
    tail = re.sub(r"[^A-Za-z0-9_.-]", "_", url.rstrip("/").split("/")[-1].removesuffix(".git"))
    return f"{tail or 'repo'}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def checkout(source: SourceConfig, index: int, git_cache: Path) -> tuple[Path, str]:
    """Clone or update the source's cache and return (worktree, resolved commit)."""
    url, where = str(source.git), f"sources[{index}]"
    clone_dir = git_cache / f"{cache_slug(url)}.repo"
    if not (clone_dir / "HEAD").exists():
        clone(url, source, clone_dir, where)
    commit = resolve_revision(clone_dir, source, where)
    worktree = git_cache / f"{cache_slug(url)}@{commit[:12]}"
    if not (worktree / ".git").exists():
        add_worktree(clone_dir, worktree, commit, where)
    return worktree, commit


def clone(url: str, source: SourceConfig, clone_dir: Path, where: str) -> None:
    """Bare-clone `url` (partial, shallow or full) into a temp dir, then rename into place."""
    args = ["clone", "--bare", "--quiet"]
    if source.clone == "partial":
        args.append("--filter=blob:none")
    elif source.clone == "shallow":
        if source.revision and FULL_SHA.fullmatch(source.revision):
            raise CodesweepError(f"{where}.clone: shallow clones need a branch or tag revision; "
                                 "use clone: partial to pin a commit")
        args += ["--depth", "1"] + (["--branch", source.revision] if source.revision else [])
    temp = clone_dir.with_name(clone_dir.name + ".partial")
    shutil.rmtree(temp, ignore_errors=True)
    temp.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_git([*args, url, str(temp)])
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise CodesweepError(f"{where}.git: cannot clone {url}: {last_line(exc)}") from None
    # A bare clone maps branches to refs/heads; keep that mapping on later fetches.
    run_git(["config", "remote.origin.fetch", "+refs/heads/*:refs/heads/*"], cwd=temp)
    temp.rename(clone_dir)


def resolve_revision(clone_dir: Path, source: SourceConfig, where: str) -> str:
    """The commit a revision names, fetching first unless it is a commit already here."""
    revision = source.revision or "HEAD"
    known = _lookup(clone_dir, revision)
    if known and FULL_SHA.fullmatch(revision):
        return known  # a commit never moves: no fetch needed on re-runs
    try:
        depth = ["--depth", "1"] if source.clone == "shallow" else []
        run_git(["fetch", "--quiet", "--tags", "--force", *depth, "origin"], cwd=clone_dir)
    except subprocess.CalledProcessError as exc:
        if not known:
            raise CodesweepError(
                f"{where}.git: cannot fetch {source.git}: {last_line(exc)}") from None
    commit = _lookup(clone_dir, revision)
    if not commit:
        raise CodesweepError(f"{where}.revision: {revision!r} not found in {source.git} "
                             "(no such branch, tag or commit)")
    return commit


def _lookup(clone_dir: Path, revision: str) -> str | None:
    for candidate in (f"refs/heads/{revision}", f"refs/tags/{revision}", revision):
        try:
            return run_git(["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
                           cwd=clone_dir)
        except subprocess.CalledProcessError:
            continue
    return None


def add_worktree(clone_dir: Path, worktree: Path, commit: str, where: str) -> None:
    """Check out `commit` into its own directory (partial clones fetch blobs here)."""
    shutil.rmtree(worktree, ignore_errors=True)
    try:
        run_git(["worktree", "prune"], cwd=clone_dir)
        run_git(["worktree", "add", "--quiet", "--detach", "--force", str(worktree), commit],
                cwd=clone_dir)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(worktree, ignore_errors=True)
        raise CodesweepError(f"{where}: cannot check out {commit[:12]}: {last_line(exc)}") from None
