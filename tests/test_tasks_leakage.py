"""Example-level leakage across splits: sibling files share a function that file dedup keeps."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa

from codesweep.tasks import leakage
from codesweep.tasks.registry import get_builder

SHARED = """    fun encodeBase64(bytes: ByteArray): String {
        val out = StringBuilder()
        for (chunk in bytes.toList().chunked(3)) {
            out.append(alphabet[chunk[0].toInt() shr 2])
            out.append(alphabet[(chunk[0].toInt() and 3) shl 4])
        }
        return out.toString()
    }
"""


def own_function(name: str, word: str) -> str:
    return (f"    fun {name}(count: Int): Int {{\n        val {word}Total = count * 7 + 3\n"
            f"        val {word}Half = {word}Total / 2\n        return {word}Half - {word}Total\n"
            "    }\n")


def sibling(path: str, split: str, platform: str) -> dict:
    """A multiplatform source file: the shared function plus platform-only code."""
    text = (f"package okio.{platform}\n\nclass {platform.title()}Codec {{\n"
            f"    private val alphabet = \"ABCDEFGH{platform}\"\n\n{SHARED}\n"
            f"{own_function(platform + 'Checksum', platform)}}}\n")
    return {"repo": "okio", "revision": "0" * 40, "path": path, "language": "kotlin",
            "text": text, "split": split, "sha": hashlib.sha256(text.encode()).hexdigest()}


def reference_for(train: pd.DataFrame, examples: pd.DataFrame) -> leakage.Reference:
    files = leakage.unit_hashes(leakage.file_shingles(train))
    kept = leakage.unit_hashes(leakage.example_shingles(examples, 200))
    return leakage.reference_of(files + kept)


def test_eval_copy_of_a_train_function_is_dropped_and_the_rest_kept() -> None:
    train = pd.DataFrame([sibling("src/jvmMain/Codec.kt", "train", "jvm")])
    test = pd.DataFrame([sibling("src/nativeMain/Codec.kt", "test", "native")])
    for builder in ("fim", "function_naming"):
        build = get_builder(builder)
        reference = reference_for(train, build(train, {"min_body_lines": 1}, 0))
        marked = leakage.mark_cross_split(build(test, {"min_body_lines": 1}, 0), reference,
                                          0.8, 200)
        fate = dict(zip(marked["function"], marked["drop_reason"], strict=True))
        assert fate["NativeCodec.encodeBase64"] == leakage.REASON, builder
        assert fate["NativeCodec.nativeChecksum"] == "", builder


def test_completion_window_seen_verbatim_in_a_train_file_is_dropped() -> None:
    train = pd.DataFrame([sibling("src/jvmMain/Codec.kt", "train", "jvm")])
    test = pd.DataFrame([sibling("src/nativeMain/Codec.kt", "test", "native")])
    params = {"context_lines": 4, "stride_lines": 3, "min_target_chars": 1}
    windows = get_builder("completion")(test, params, 0)
    reference = reference_for(train, get_builder("completion")(train, params, 0))
    marked = leakage.mark_cross_split(windows, reference, 0.8, 200)
    dropped = marked[marked["drop_reason"] == leakage.REASON]
    kept = marked[marked["drop_reason"] == ""]
    assert len(dropped) >= 1 and len(kept) >= 1
    assert all("alphabet" in text for text in windows.loc[dropped.index, "prompt"])


def test_shingles_ignore_layout_and_containment_is_a_fraction() -> None:
    hashes = leakage.shingle_hashes("a = b + c * d")
    assert (hashes == leakage.shingle_hashes("a=b+c*d")).all()
    reference = leakage.reference_of([hashes])
    assert leakage.containment("a = b + c * d", reference) == 1.0
    assert leakage.containment("totally other tokens here now", reference) == 0.0
    assert leakage.containment("", reference) == 0.0


def test_an_example_counts_as_leaked_only_when_one_train_file_contains_it() -> None:
    train = pd.DataFrame([sibling("src/jvmMain/Codec.kt", "train", "jvm")])
    build = get_builder("fim")
    test = build(pd.DataFrame([sibling("src/nativeMain/Codec.kt", "test", "native")]),
                 {"min_body_lines": 1}, 0)
    shared = test[test["function"] == "NativeCodec.encodeBase64"]
    assert len(shared) == 1
    halves = SHARED.splitlines(keepends=True)
    first = dict(train.iloc[0], path="A.kt", text="".join(halves[:4]) + "\n// first half\n")
    second = dict(train.iloc[0], path="B.kt", text="\n// second half\n" + "".join(halves[3:]))
    spread = leakage.reference_of(leakage.unit_hashes(leakage.file_shingles(
        pd.DataFrame([first, second]))))
    pooled = leakage.reference_of([np.unique(np.concatenate(
        [leakage.unit_hashes(leakage.file_shingles(pd.DataFrame([row])))[0]
         for row in (first, second)]))])
    text = leakage.leak_texts(shared, 200)[0]
    assert leakage.containment(text, pooled) >= 0.8  # pooled, the two halves would match
    assert leakage.containment(text, spread) < 0.8
    assert leakage.mark_cross_split(shared, spread, 0.8, 200)["drop_reason"].iat[0] == ""
    whole = leakage.reference_of(leakage.unit_hashes(leakage.file_shingles(train)))
    assert leakage.mark_cross_split(shared, whole, 0.8, 200)["drop_reason"].iat[0] \
        == leakage.REASON


def test_best_containment_is_exact_above_the_threshold() -> None:
    units = [leakage.shingle_hashes(text) for text in
             ("a = b + c * d - e", "x = y + z", "a = b + c * q / r")]
    reference = leakage.reference_of(units)
    query = leakage.shingle_hashes("a = b + c * d - e")
    assert leakage.best_containment(query, reference, 0.9) == 1.0
    assert leakage.best_containment(query, reference) == 1.0
    assert leakage.best_containment(leakage.shingle_hashes("x = y + z"), reference, 1.0) == 1.0
    assert len(leakage.reference_of([])) == 0


def test_hash_views_read_sliced_chunks_of_either_binary_width() -> None:
    units = [leakage.shingle_hashes(text) for text in
             ("a = b + c * d - e", "x = y + z", "def f(): return g(h)", "u = v")]
    values = [unit.tobytes() for unit in units]
    values.insert(2, b"")  # a dropped row: no unit
    for kind in (pa.binary(), pa.large_binary()):
        whole = pa.array(values, kind)
        column = pa.chunked_array([whole.slice(1, 2), whole.slice(3)])  # offsets not at 0
        views = leakage.hash_views(column)
        assert [view.tolist() for view in views] == [unit.tolist() for unit in units[1:]]
        kept = leakage.hash_views(column, np.array([True, True, False, True]))
        assert [view.tolist() for view in kept] == [units[1].tolist(), units[3].tolist()]


def test_one_reference_per_earlier_split_marks_what_their_union_marks() -> None:
    train = pd.DataFrame([sibling("src/jvmMain/Codec.kt", "train", "jvm")])
    validation = pd.DataFrame([sibling("src/jsMain/Codec.kt", "validation", "js")])
    test = pd.DataFrame([sibling("src/nativeMain/Codec.kt", "test", "native"),
                         sibling("src/jsMain/Other.kt", "test", "js")])
    params = {"context_lines": 4, "stride_lines": 3, "min_target_chars": 1}
    build = get_builder("completion")
    windows = build(test, params, 0)
    per_split = [reference_for(train, build(train, params, 0)),
                 reference_for(validation, build(validation, params, 0))]
    union = leakage.reference_of(
        [per_split[0].unit(i) for i in range(len(per_split[0]))]
        + [per_split[1].unit(i) for i in range(len(per_split[1]))])
    apart = leakage.mark_cross_split(windows, per_split, 0.8, 200)
    together = leakage.mark_cross_split(windows, union, 0.8, 200)
    pd.testing.assert_frame_equal(apart, together)
    only_train = leakage.mark_cross_split(windows, per_split[:1], 0.8, 200)
    assert (apart["drop_reason"] == leakage.REASON).sum() \
        > (only_train["drop_reason"] == leakage.REASON).sum()  # validation's units count


def test_the_index_holds_every_hash_with_its_unit_in_hash_order() -> None:
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 2**64, size=300, dtype=np.uint64)  # shared: equal hashes
    units = [np.unique(rng.choice(pool, size=size)) for size in (40, 0, 90, 1, 0, 200)]
    reference = leakage.reference_of(units)
    hashes = np.concatenate(units)
    owner = np.repeat(np.arange(len(units)), [len(unit) for unit in units])
    order = np.argsort(hashes, kind="stable")
    assert reference.posting_hashes.tolist() == hashes[order].tolist()
    assert reference.posting_units.tolist() == owner[order].tolist()
    assert [reference.unit(i).tolist() for i in range(len(units))] \
        == [unit.tolist() for unit in units]
