"""`prepare` end to end on a two-repository corpus: example-level leakage, repo splits,
contamination before dedup, extraction status and the near-duplicate leakage guard."""

from __future__ import annotations

import pandas as pd
import pytest
from test_corpus_dedup import BASE, RENAMED
from test_prepare_pipeline import distinct_module, humaneval_solution
from test_tasks_extraction import PARTIAL
from test_tasks_leakage import sibling

from codesweep.config.pipeline import PipelineConfig
from codesweep.corpus.pipeline import prepare

CLEAN = "".join(distinct_module(n) for n in (50, 51, 52, 53))


def make_corpus(root) -> None:
    big, small = root / "big", root / "small"
    for directory, files in ((big, 10), (small, 3)):
        (directory / "pkg").mkdir(parents=True)
        for number in range(files):
            (directory / "pkg" / f"m{number}.py").write_text(distinct_module(200 + number
                                                                             + 20 * files))
    for directory, path, platform in ((big, "src/jvmMain/Codec.kt", "jvm"),
                                      (small, "src/nativeMain/Codec.kt", "native")):
        (directory / path).parent.mkdir(parents=True)
        (directory / path).write_text(sibling(path, "", platform)["text"])
    (big / "clean.py").write_text(CLEAN)
    (big / "clean_with_solution.py").write_text(CLEAN + "\n\n" + humaneval_solution())
    (big / "base.py").write_text(BASE)
    (small / "renamed.py").write_text(RENAMED)  # near duplicate of big/base.py
    (small / "Partial.kt").write_text(PARTIAL)


def recipe(**overrides) -> PipelineConfig:
    data = {"name": "integrity", "sources": [{"path": "big"}, {"path": "small"}],
            "split": {"by": "repo", "train": 0.8, "validation": 0.0, "test": 0.2},
            "tasks": [{"builder": "fim", "params": {"min_body_lines": 1}},
                      {"builder": "function_naming", "params": {"min_body_lines": 1}}]}
    return PipelineConfig.model_validate({**data, **overrides})


@pytest.fixture(scope="module")
def prepared(ray_session, tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    make_corpus(root)
    return root, prepare(recipe(), recipe_dir=root, cache_root=root / "cache")


def test_every_requested_split_gets_a_repository(prepared):
    _, result = prepared
    splits = result.manifest["splits"]
    assert splits["train"]["files"] > 0 and splits["test"]["files"] > 0
    test_files = pd.read_parquet(result.path / "files" / "test")
    assert set(test_files["repo"]) == {"small"}


def test_eval_copies_of_train_functions_are_dropped_and_counted(prepared):
    _, result = prepared
    for task in ("fim", "function_naming"):
        test = result.manifest["tasks"][task]["test"]
        assert test["dropped"].get("cross_split_duplicate") == 1, task
        assert test["examples"] >= 1, task
        rows = pd.read_parquet(result.path / "tasks" / task / "test")
        assert "NativeCodec.encodeBase64" not in set(rows["function"]), task
        assert "NativeCodec.nativeChecksum" in set(rows["function"]), task


def test_a_clean_file_survives_its_contaminated_twin(prepared):
    _, result = prepared
    fate = pd.read_parquet(result.path / "exclusions").set_index("path")["reason"].to_dict()
    assert fate.get("clean_with_solution.py") == "contaminated"
    assert "clean.py" in set(pd.read_parquet(result.path / "files" / "train")["path"])
    assert result.manifest["counts"]["stages"]["decontam"]["dropped"] == {"contaminated": 1}


def test_extraction_status_and_near_duplicate_guard_are_reported(prepared):
    _, result = prepared
    assert result.manifest["extraction"]["test"] == {"complete": 4, "partial": 1}  # renamed.py went
    assert result.manifest["leakage_check"] == (
        "passed: no content sha in two splits, no near duplicates across splits")
    assert result.manifest["near_duplicates_across_splits"] == 0


def test_without_near_dedup_the_guard_counts_pairs_across_splits(prepared):
    root, _ = prepared
    result = prepare(recipe(dedup={"near": False}, tasks=[]), recipe_dir=root,
                     cache_root=root / "cache-no-near")
    assert result.manifest["near_duplicates_across_splits"] == 1
    assert "1 near-duplicate pairs across splits" in result.manifest["leakage_check"]
