"""Listing local sources: globs, languages, the stdlib, symlink escapes and loops, bad paths."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

from codesweep.config.pipeline import PipelineConfig
from codesweep.corpus.sources import matches_any, resolve_sources
from codesweep.errors import CodesweepError


def config(**source) -> PipelineConfig:
    return PipelineConfig.model_validate({"name": "t", "sources": [source]})


def listing(tmp_path: Path, **source):
    [resolved] = resolve_sources(config(**source), tmp_path, tmp_path / "cache")
    files = {row["path"]: row["language"] for row in resolved.files}
    dropped = {row["path"]: row["reason"] for row in resolved.dropped}
    return files, dropped


def test_globs_span_directories_only_with_double_star():
    assert matches_any("a.py", ["**/*.py"]) and matches_any("x/y/a.py", ["**/*.py"])
    assert not matches_any("x/a.py", ["*.py"]) and matches_any("x/a.py", ["x/*.py"])
    assert matches_any("pkg/test/t.py", ["**/test/**"])
    assert not matches_any("tests.py", ["**/test/**"])


def test_languages_by_extension_and_include_exclude(tmp_path):
    repo = tmp_path / "repo"
    for name in ["a.py", "b/C.kt", "b/D.java", "b/build.kts", "notes.md", "gen/skip.py"]:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x\n")
    files, dropped = listing(tmp_path, path="repo", exclude=["gen/**"])
    assert files == {"a.py": "python", "b/C.kt": "kotlin", "b/D.java": "java",
                     "b/build.kts": "kotlin"}
    files, dropped = listing(tmp_path, path="repo", include=["**/*.md", "a.py"])
    assert files == {"a.py": "python"} and dropped == {"notes.md": "unknown_language"}


def test_symlinks_never_lead_out_of_the_source(tmp_path):
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "real.py").write_text("x = 1\n")
    (tmp_path / "secret.py").write_text("token = 1\n")
    os.symlink(repo / "real.py", repo / "inside.py")
    os.symlink(tmp_path / "secret.py", repo / "escape.py")
    os.symlink("loop_b.py", repo / "loop_a.py")
    os.symlink("loop_a.py", repo / "loop_b.py")
    os.symlink("missing.py", repo / "broken.py")
    os.symlink("..", repo / "sub" / "up")  # a directory loop: must not be walked
    files, dropped = listing(tmp_path, path="repo")
    assert set(files) == {"real.py", "inside.py"}
    assert dropped == {"escape.py": "symlink_escape", "loop_a.py": "symlink_loop",
                       "loop_b.py": "symlink_loop", "broken.py": "symlink_broken"}


def test_stdlib_source_excludes_tests_and_site_packages(tmp_path):
    [resolved] = resolve_sources(config(path="stdlib", include=["json/**/*.py", "**/test_*.py"]),
                                 tmp_path, tmp_path)
    paths = {row["path"] for row in resolved.files}
    assert "json/decoder.py" in paths and "json/__init__.py" in paths
    assert not any("/test" in p or p.startswith("test") for p in paths)
    assert resolved.root == Path(sysconfig.get_paths()["stdlib"])
    assert resolved.revision.startswith("listing-")


def test_bad_paths_are_one_line_errors(tmp_path):
    with pytest.raises(CodesweepError, match=r"sources\[0\]\.path: .*nowhere does not exist"):
        listing(tmp_path, path="nowhere")
    (tmp_path / "file.py").write_text("x\n")
    with pytest.raises(CodesweepError, match=r"sources\[0\]\.path: .*file.py is not a directory"):
        listing(tmp_path, path="file.py")


def test_listing_hash_changes_when_a_file_changes(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.py").write_text("x = 1\n")
    first = resolve_sources(config(path="repo"), tmp_path, tmp_path)[0].revision
    assert resolve_sources(config(path="repo"), tmp_path, tmp_path)[0].revision == first
    (tmp_path / "repo" / "a.py").write_text("x = 22\n")
    assert resolve_sources(config(path="repo"), tmp_path, tmp_path)[0].revision != first


def test_listing_hash_is_the_same_for_a_fresh_copy_of_the_same_files(tmp_path):
    """`ray job submit` unpacks the project afresh on every submission: other location,
    new modification times, same bytes. The prepared data must be found again."""
    first, second = tmp_path / "pkg_1" / "repo", tmp_path / "pkg_2" / "repo"
    for root, stamp in ((first, 1_000_000_000), (second, 2_000_000_000)):
        (root / "sub").mkdir(parents=True)
        for name, text in (("a.py", "x = 1\n"), ("sub/b.py", "y = 2\n")):
            (root / name).write_text(text)
            os.utime(root / name, ns=(stamp, stamp))
    [one] = resolve_sources(config(path="repo"), first.parent, tmp_path)
    [two] = resolve_sources(config(path="repo"), second.parent, tmp_path)
    assert one.root != two.root and one.revision == two.revision
    (second / "sub" / "b.py").write_text("y = 3\n")  # same size, other bytes
    os.utime(second / "sub" / "b.py", ns=(2_000_000_000, 2_000_000_000))
    [edited] = resolve_sources(config(path="repo"), second.parent, tmp_path)
    assert edited.revision != one.revision


def test_directories_an_exclude_takes_whole_are_not_walked(tmp_path, monkeypatch):
    """An exclude glob ending in `/**` prunes its directories: the standard library's
    listing walked every file of site-packages and the test suites to skip them one by one."""
    from codesweep.corpus import sources

    repo = tmp_path / "repo"
    for name in ["keep.py", "pkg/keep.py", "pkg/test/t.py", "vendor/lib/v.py",
                 "vendor/lib/deep/w.py", "vendorish/x.py"]:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x\n")
    walked = []
    real_walk = os.walk

    def spying_walk(top, **kwargs):
        for dirpath, dirnames, filenames in real_walk(top, **kwargs):
            walked.append(os.path.relpath(dirpath, repo))
            yield dirpath, dirnames, filenames

    monkeypatch.setattr(sources.os, "walk", spying_walk)
    files, _ = listing(tmp_path, path="repo", exclude=["vendor/**", "**/test/**"])
    assert sorted(files) == ["keep.py", "pkg/keep.py", "vendorish/x.py"]
    assert sorted(walked) == [".", "pkg", "vendorish"]


def test_the_listing_streams_to_a_file_in_chunks_with_the_same_rows_and_revision(
        tmp_path, monkeypatch):
    """The driver holds one chunk of listing rows at a time: chunks of 3 give the same rows,
    counts and content revision as one chunk, and the listing file is gone with its source."""
    import gc

    import pyarrow as pa

    from codesweep.corpus import sources

    repo = tmp_path / "repo"
    for number in range(10):
        (repo / f"d{number % 3}").mkdir(parents=True, exist_ok=True)
        (repo / f"d{number % 3}" / f"m{number}.py").write_text(f"x = {number}\n" * (number + 1))
    [whole] = resolve_sources(config(path="repo"), tmp_path, tmp_path)
    monkeypatch.setattr(sources, "LISTING_CHUNK_FILES", 3)
    [chunked] = resolve_sources(config(path="repo"), tmp_path, tmp_path)
    assert chunked.files == whole.files and len(whole.files) == 10
    assert chunked.revision == whole.revision and chunked.count == 10
    assert chunked.bytes == sum(row["size"] for row in whole.files)
    assert pa.ipc.open_file(str(chunked.listing)).num_record_batches == 4  # 3 + 3 + 3 + 1
    path = chunked.listing
    del chunked
    gc.collect()
    assert not path.exists()
