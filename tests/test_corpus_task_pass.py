"""The fused task pass of prepare: one block function per (task, split) gives the same
examples, drops and leak hashes as the builder, `tasks.leakage` marking and shingling run
one after another; the files' pass gives the files' shingles and extraction counts; the
leakage reference is built from those blocks."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from codesweep.corpus import blocks
from codesweep.drops import KEPT, kept_rows
from codesweep.tasks import extraction, leakage

CODE = "".join(f"def f{i}(x):\n    y = x * {i}\n    return y + {i}\n\n" for i in range(12))
OTHER = "".join(f"class K{i}:\n    size = {i} * 7\n\n" for i in range(12))
PARAMS = {"context_lines": 4, "stride_lines": 4}


def files(*texts: str, split: str = "validation") -> pd.DataFrame:
    return pd.DataFrame({
        "repo": "r", "revision": "", "path": [f"f{n}.py" for n in range(len(texts))],
        "language": "python", "text": list(texts), "num_bytes": [len(t) for t in texts],
        "split": split, "sha": [str(n) for n in range(len(texts))], "dup_count": 1,
        "license_header_stripped": False, "drop_reason": KEPT, "extraction": ""})


def test_task_examples_equal_the_steps_one_after_another() -> None:
    reference = leakage.reference_of(leakage.unit_hashes(leakage.file_shingles(files(CODE))))
    batch = files(CODE, OTHER)
    fused = blocks.task_examples(batch, "completion", PARAMS, 0, [reference], 0.5, 200,
                                 with_hashes=True).to_pandas()
    built = leakage.mark_cross_split(blocks.run_task_builder(batch, "completion", PARAMS, 0),
                                     reference, 0.5, 200)
    written = blocks.written_examples(fused)
    expected = blocks.kept_examples(built).reset_index(drop=True)
    pd.testing.assert_frame_equal(written.reset_index(drop=True), expected, check_dtype=False)
    assert (fused["drop_reason"] == leakage.REASON).any()  # CODE's windows are in the reference
    kept_hashes = [h for h in kept_rows(fused)[blocks.LEAK_HASHES] if len(h)]
    shingled = leakage.example_shingles(built, 200)["hashes"]
    assert kept_hashes == [h for h in shingled if len(h)]
    assert set(fused.loc[fused["drop_reason"] != KEPT, blocks.LEAK_HASHES]) == {b""}


def test_written_examples_leave_out_the_hashes_and_the_dropped_rows() -> None:
    fused = blocks.task_examples(files(CODE), "completion", PARAMS, 0, [], 0.5, 200,
                                 with_hashes=True).to_pandas()
    written = blocks.written_examples(fused)
    assert blocks.LEAK_HASHES not in written.columns
    assert set(written["drop_reason"]) == {KEPT} and len(written) < len(fused)
    plain = blocks.task_examples(files(CODE), "completion", PARAMS, 0, [], 0.5, 200,
                                 with_hashes=False).to_pandas()
    assert blocks.LEAK_HASHES not in plain.columns


def test_kept_file_facts_hold_the_file_shingles_and_extraction_status() -> None:
    batch = blocks.with_extraction_status(pd.concat(
        [files(CODE, split="train"), files(OTHER, split="test")], ignore_index=True))
    dropped = files(OTHER).assign(drop_reason="too_short")
    facts = blocks.kept_file_facts(pd.concat([batch, dropped], ignore_index=True),
                                   hash_splits=["train", "validation"])
    assert list(facts["split"]) == ["train", "test"]
    assert facts["hashes"].iat[0] == leakage.file_shingles(files(CODE))["hashes"].iat[0]
    assert facts["hashes"].iat[1] == b""  # test files are no split's reference
    counted = facts.groupby(["split", "status"], as_index=False).size()
    expected = extraction.status_counts(batch).rename(columns={"files": "size"})
    pd.testing.assert_frame_equal(counted, expected, check_dtype=False)


def test_reference_units_are_the_files_of_the_splits_so_far_and_the_kept_examples() -> None:
    batch = blocks.with_extraction_status(pd.concat(
        [files(CODE, split="train"), files(OTHER, split="validation")], ignore_index=True))
    facts = blocks.kept_file_facts(batch, hash_splits=["train", "validation"])
    examples = blocks.task_examples(files(OTHER), "completion", PARAMS, 0, [], 0.5, 200,
                                    with_hashes=True).to_pandas()
    examples.loc[0, "drop_reason"] = "too_long"  # a dropped example is no unit
    units = [unit for frame in (facts, examples)
             for unit in blocks.reference_units(pa.Table.from_pandas(frame), ["train"])]
    kept = kept_rows(examples)
    assert 0 < len(kept) < len(examples) - 1  # the builder dropped some rows too
    expected = [leakage.shingle_hashes(CODE)] + [
        leakage.shingle_hashes(text) for text in leakage.leak_texts(kept, 200)]
    assert [unit.tolist() for unit in units] == [unit.tolist() for unit in expected]
