"""Exact and near dedup: planted duplicates caught, distinct files kept, clusters formed."""

from __future__ import annotations

import pandas as pd

from codesweep.corpus import dedup
from codesweep.corpus.filters import normalized_hash

BASE = "".join(
    f"def compute_{i}(items, scale):\n"
    f"    total = 0\n"
    f"    for item in items:\n"
    f"        total += item * scale + {i}\n"
    f"    return total / len(items)\n\n" for i in range(12))
RENAMED = BASE.replace("compute_3", "calc_3").replace("compute_7", "calc_7")
REFORMATTED = BASE.replace("    ", "\t").replace("item * scale", "item*scale")
DISTINCT = "".join(
    f"class Widget{i}:\n    def __init__(self, name):\n        self.name = name + '{i}'\n"
    f"    def render(self, canvas):\n        canvas.draw(self.name, x={i}, y={i * 2})\n\n"
    for i in range(10))


def sig(text: str):
    return dedup.signature(text, 5, 128)


def test_reformatted_code_is_an_exact_duplicate():
    assert normalized_hash(BASE) == normalized_hash(BASE.replace("    ", "\t"))
    frame = pd.DataFrame({"repo": ["b", "a", "c"], "path": ["x.py", "y.py", "z.py"],
                          "norm_hash": ["h", "h", "other"], "dup_count": [1, 1, 1],
                          "text": ["t", "t", "u"], "drop_reason": [""] * 3,
                          "drop_stage": [""] * 3, "drop_detail": [""] * 3, "shard": [0] * 3})
    out = dedup.keep_first_per_hash(frame).set_index("repo")
    assert out.loc["a", "drop_reason"] == "" and out.loc["a", "dup_count"] == 2
    assert out.loc["b", "drop_reason"] == "exact_duplicate" and out.loc["b", "text"] == ""
    assert out.loc["b", "drop_detail"] == "same content as a:y.py"
    assert out.loc["c", "drop_reason"] == "" and "shard" not in out.columns


def test_minhash_similarity_separates_near_duplicates_from_distinct_code():
    base = sig(BASE).tobytes()
    assert dedup.jaccard(base, sig(RENAMED).tobytes()) >= 0.7
    assert dedup.jaccard(base, sig(REFORMATTED).tobytes()) >= 0.7
    assert dedup.jaccard(base, sig(DISTINCT).tobytes()) < 0.2
    assert dedup.lsh_params(0.7, 128) == (14, 9)  # datasketch's choice for the threshold


def test_band_groupby_finds_the_cluster_and_keeps_one_representative():
    batch = pd.DataFrame({"repo": ["r"] * 4, "path": ["a.py", "b.py", "c.py", "d.py"],
                          "text": [BASE, RENAMED, REFORMATTED, DISTINCT]})
    bands = dedup.band_rows(batch, 0.7, 128, 5, shards=3)
    assert len(bands) == 4 * 14 and set(bands["shard"]) <= {0, 1, 2}
    pairs = pd.concat([dedup.shard_pairs(shard, 0.7) for _, shard in bands.groupby("shard")])
    clusters = dedup.clusters_from_pairs(sorted(set(zip(pairs["a"], pairs["b"], strict=True))))
    assert clusters == {"r:a.py": ["r:a.py", "r:b.py", "r:c.py"]}
    drops, sizes = dedup.near_drop_details(clusters)
    assert sizes == {"r:a.py": 3}
    assert drops["r:b.py"] == "near duplicate of r:a.py (cluster of 3)"


def test_clusters_are_transitive_and_deterministic():
    clusters = dedup.clusters_from_pairs([("c", "d"), ("a", "b"), ("b", "c"), ("x", "y")])
    assert clusters == {"a": ["a", "b", "c", "d"], "x": ["x", "y"]}


def test_mark_near_duplicates_drops_members_and_counts_the_keeper():
    batch = pd.DataFrame({"repo": ["r", "r", "r"], "path": ["a.py", "b.py", "e.py"],
                          "text": ["A", "B", "E"], "dup_count": [1, 1, 1],
                          "drop_reason": ["", "", ""], "drop_stage": [""] * 3,
                          "drop_detail": [""] * 3})
    out = dedup.mark_near_duplicates(batch, {"r:b.py": "near duplicate of r:a.py"}, {"r:a.py": 2})
    assert list(out["drop_reason"]) == ["", "near_duplicate", ""]
    assert list(out["dup_count"]) == [2, 1, 1] and out["text"].iat[1] == ""


def test_mark_near_duplicates_in_a_block_without_the_keeper():
    batch = pd.DataFrame({"repo": ["r", "r"], "path": ["b.py", "e.py"], "text": ["B", "E"],
                          "dup_count": [1, 1], "drop_reason": ["", ""], "drop_stage": [""] * 2,
                          "drop_detail": [""] * 2})
    out = dedup.mark_near_duplicates(batch, {"r:b.py": "near duplicate of r:a.py"}, {"r:a.py": 2})
    assert list(out["drop_reason"]) == ["near_duplicate", ""] and list(out["dup_count"]) == [1, 1]


def test_signatures_equal_datasketch_default_hashing():
    from datasketch import MinHash

    reference = MinHash(num_perm=128, seed=dedup.MINHASH_SEED, scheme=dedup.MINHASH_SCHEME)
    reference.update_batch(dedup.shingles(BASE, 5))
    assert (sig(BASE) == reference.hashvalues.astype("uint32")).all()
    assert sig("   \n") is None


def test_exact_marks_travel_without_text_and_apply_to_the_rows():
    rows = pd.DataFrame({"repo": ["b", "a", "c", "d"], "path": ["x.py", "y.py", "z.py", "w.py"],
                         "norm_hash": ["aa", "aa", "bb", "cc"], "dup_count": [1] * 4,
                         "text": ["t", "t", "u", ""], "sig": [b"s"] * 4,
                         "drop_reason": ["", "", "", "too_short"], "drop_stage": [""] * 4,
                         "drop_detail": [""] * 4})
    keys = dedup.exact_keys(rows, shards=2)
    assert "text" not in keys.columns and list(keys["repo"]) == ["b", "a", "c"]
    marks = dedup.exact_marks(keys)
    assert sorted(marks["uid"]) == ["a:y.py", "b:x.py"]
    drops = {u: d for u, d in zip(marks["uid"], marks["detail"], strict=True) if d}
    counts = {u: n for u, n, d in zip(marks["uid"], marks["dup_count"], marks["detail"],
                                      strict=True) if not d}
    assert drops == {"b:x.py": "same content as a:y.py"} and counts == {"a:y.py": 2}
    out = dedup.apply_exact_marks(rows, drops, counts).set_index("repo")
    assert out.loc["b", "drop_reason"] == "exact_duplicate" and out.loc["b", "text"] == ""
    assert out.loc["a", "dup_count"] == 2 and out.loc["c", "drop_reason"] == ""


def test_band_rows_use_the_precomputed_signatures():
    texts = pd.DataFrame({"repo": ["r", "r"], "path": ["a.py", "b.py"], "text": [BASE, ""],
                          "drop_reason": ["", ""]})
    signed = dedup.with_signatures(texts, 5, 128)
    assert signed["sig"].iat[0] == sig(BASE).tobytes() and signed["sig"].iat[1] == b""
    from_sigs = dedup.band_rows(signed.drop(columns=["text"]), 0.7, 128, 5, shards=3)
    assert from_sigs.equals(dedup.band_rows(texts, 0.7, 128, 5, shards=3))


def test_near_clusters_join_the_pairs_of_every_shard():
    shard_a = pd.DataFrame({"a": ["r:a.py", "r:b.py"], "b": ["r:b.py", "r:c.py"],
                            "jaccard": [0.9, 0.8]})
    shard_b = pd.DataFrame({"a": ["r:a.py", "r:x.py"], "b": ["r:b.py", "r:y.py"],
                            "jaccard": [0.9, 0.75]})
    found = dedup.near_clusters_of([shard_a, pd.DataFrame(), shard_b])  # a shard with no pairs
    assert found.pairs == [("r:a.py", "r:b.py"), ("r:b.py", "r:c.py"), ("r:x.py", "r:y.py")]
    assert found.sizes == {"r:a.py": 3, "r:x.py": 2}
    assert found.drops["r:c.py"] == "near duplicate of r:a.py (cluster of 3)"
    assert set(found.drops) == {"r:b.py", "r:c.py", "r:y.py"}
