"""Exact and near deduplication, written as per-batch and per-group functions for Ray Data.

Exact: group by the whitespace-free content hash; the smallest (repo, path) of a group stays.
Near: MinHash (datasketch) over shingles of code tokens, split into LSH bands chosen for the
Jaccard threshold; rows are exploded to (band, uid, signature) and grouped by band, so no
process holds the whole index; candidate pairs in a bucket are verified on their signatures,
and only the verified pairs (few) reach the driver, which joins them into clusters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from codesweep.corpus.blocks import with_hash_shard
from codesweep.corpus.schema import mark_dropped, uid
from codesweep.drops import KEPT
from codesweep.languages import code_words

MINHASH_SEED = 1
# datasketch 2.x's default scheme, named so signatures stay comparable across versions.
MINHASH_SCHEME = "affine32"
# Members of one bucket compared pairwise; later members are compared with these only.
MAX_BUCKET_PAIRS = 64


def keep_first_per_hash(shard: pd.DataFrame) -> pd.DataFrame:
    """Exact dedup of one shard (many norm_hash groups, vectorised).

    Per norm_hash the smallest (repo, path) stays, with dup_count = the group's total;
    the others are marked exact_duplicate and lose their text.
    """
    shard = shard.sort_values(["norm_hash", "repo", "path"], kind="stable").reset_index(drop=True)
    groups = shard.groupby("norm_hash", sort=False)
    keeper = groups["repo"].transform("first") + ":" + groups["path"].transform("first")
    totals = groups["dup_count"].transform("sum")
    repeat = shard["norm_hash"].duplicated(keep="first")
    shard.loc[~repeat, "dup_count"] = totals[~repeat]
    mark_dropped(shard, repeat, "exact_dedup", "exact_duplicate",
                 "same content as " + keeper[repeat])
    return shard.drop(columns=["shard"], errors="ignore")


EXACT_KEYS = ["repo", "path", "norm_hash", "dup_count", "drop_reason", "drop_stage",
              "drop_detail"]


def exact_keys(batch: pd.DataFrame, shards: int) -> pd.DataFrame:
    """The text-free projection exact dedup groups (kept rows only), with its `shard`."""
    kept = batch.loc[batch["drop_reason"] == KEPT, EXACT_KEYS]
    return with_hash_shard(kept, "norm_hash", shards)


def exact_marks(shard: pd.DataFrame) -> pd.DataFrame:
    """Exact dedup of one shard of keys, as marks: (uid, detail) of each duplicate, and
    (uid, dup_count) of each keeper of a group; rows without a group send nothing back."""
    out = keep_first_per_hash(shard)
    marked = out[(out["drop_reason"] != KEPT) | (out["dup_count"] > 1)]
    return pd.DataFrame({"uid": [uid(r, p) for r, p in zip(marked["repo"], marked["path"],
                                                            strict=True)],
                         "detail": marked["drop_detail"].to_numpy(dtype=object),
                         "dup_count": marked["dup_count"].to_numpy(dtype="int64")},
                        columns=["uid", "detail", "dup_count"])


def apply_exact_marks(batch: pd.DataFrame, drops: dict[str, str],
                      counts: dict[str, int]) -> pd.DataFrame:
    """Mark the exact duplicates `exact_marks` found; set each keeper's group size."""
    batch = batch.reset_index(drop=True)
    if not drops and not counts:
        return batch
    keys = pd.Series([uid(repo, path) for repo, path in zip(batch["repo"], batch["path"],
                                                             strict=True)], dtype=object)
    member = keys.isin(drops.keys())
    mark_dropped(batch, member, "exact_dedup", "exact_duplicate", keys[member].map(drops))
    keeper = keys.isin(counts.keys())
    batch.loc[keeper, "dup_count"] = keys[keeper].map(counts).astype("int64")
    return batch


@lru_cache(maxsize=16)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising false positives + negatives at the threshold (datasketch's rule)."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, 0.5, 0.5)


def shingles(text: str, size: int, tokens: list[str] | None = None) -> list[bytes]:
    """Distinct `size`-token shingles of the code (identifiers, numbers, single symbols);
    `tokens`: the text's `code_words` when the caller has them already."""
    tokens = code_words(text) if tokens is None else tokens
    if len(tokens) < size:
        return [" ".join(tokens).encode()] if tokens else []
    grams = {" ".join(tokens[i:i + size]) for i in range(len(tokens) - size + 1)}
    return [gram.encode() for gram in grams]


def signature(text: str, size: int, num_perm: int,
              tokens: list[str] | None = None) -> np.ndarray | None:
    """The MinHash signature of a text (uint32 values), or None for a text without tokens.

    The same values as datasketch's default SHA-1 hashing, with the per-shingle hashing done
    here in one pass (`shingle_hashes32`) and handed to datasketch as ready integers.
    """
    from datasketch import MinHash

    grams = shingles(text, size, tokens)
    if not grams:
        return None
    minhash = MinHash(num_perm=num_perm, seed=MINHASH_SEED, scheme=MINHASH_SCHEME, hashfunc=int)
    minhash.update_batch(shingle_hashes32(grams).tolist())
    return minhash.hashvalues.astype(np.uint32)


def shingle_hashes32(grams: list[bytes]) -> np.ndarray:
    """datasketch's `sha1_hash32` of each shingle (the first 4 SHA-1 bytes, little-endian),
    computed without a Python call and a struct unpack per shingle."""
    sha1 = hashlib.sha1
    return np.frombuffer(b"".join([sha1(gram).digest()[:4] for gram in grams]), dtype="<u4")


def with_signatures(batch: pd.DataFrame, size: int, num_perm: int,
                    tokens: list | None = None) -> pd.DataFrame:
    """Add `sig` (signature bytes; empty for dropped rows and texts without tokens), computed
    once where the files are read, so near dedup needs no second pass over the texts
    (`tokens`: each row's `code_words`, when the caller has them)."""
    batch = batch.copy()
    tokens = tokens if tokens is not None else [None] * len(batch)
    batch["sig"] = [signature_bytes(text, size, num_perm, words) if reason == KEPT else b""
                    for text, reason, words in zip(batch["text"], batch["drop_reason"], tokens,
                                                   strict=True)]
    return batch


def signature_bytes(text: str, size: int, num_perm: int,
                    tokens: list[str] | None = None) -> bytes:
    """A text's signature as bytes, empty when it has no tokens."""
    sig = signature(text, size, num_perm, tokens)
    return b"" if sig is None else sig.tobytes()


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[int]:
    """One 63-bit key per band: files sharing any key are candidate near duplicates."""
    keys = []
    for band in range(bands):
        chunk = sig[band * rows:(band + 1) * rows].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, salt=band.to_bytes(16, "little")).digest()
        keys.append(int.from_bytes(digest, "little") >> 1)
    return keys


def band_rows(batch: pd.DataFrame, threshold: float, num_perm: int, size: int,
              shards: int) -> pd.DataFrame:
    """Explode kept files into (band, uid, sig, shard) rows, the input of the band group-by.

    Signatures come from the `sig` column where `with_signatures` filled it, else from `text`.
    """
    bands, rows = lsh_params(threshold, num_perm)
    if "sig" in batch.columns:
        sigs = [np.frombuffer(data, dtype=np.uint32) if len(data) else None
                for data in batch["sig"]]
    else:
        sigs = [signature(text, size, num_perm) for text in batch["text"]]
    out: dict[str, list] = {"band": [], "uid": [], "sig": [], "shard": []}
    for repo, path, sig in zip(batch["repo"], batch["path"], sigs, strict=True):
        if sig is None:
            continue
        for key in band_keys(sig, bands, rows):
            out["band"].append(key)
            out["uid"].append(uid(repo, path))
            out["sig"].append(sig.tobytes())
            out["shard"].append(key % shards)
    return pd.DataFrame(out, columns=["band", "uid", "sig", "shard"])


def jaccard(sig_a: bytes, sig_b: bytes) -> float:
    """Estimated Jaccard similarity: the fraction of equal MinHash values."""
    a, b = np.frombuffer(sig_a, dtype=np.uint32), np.frombuffer(sig_b, dtype=np.uint32)
    return float(np.mean(a == b))


def shard_pairs(shard: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Verified pairs of one shard of band rows; singleton buckets (most) are skipped at once."""
    shared = shard[shard["band"].duplicated(keep=False)]
    parts = [bucket_pairs(bucket, threshold) for _, bucket in shared.groupby("band", sort=False)]
    parts = [part for part in parts if len(part)]
    return pd.concat(parts) if parts else pd.DataFrame(columns=["a", "b", "jaccard"])


def bucket_pairs(group: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Verified similar pairs among the files of one LSH bucket (a, b, jaccard), a < b."""
    group = group.drop_duplicates("uid").sort_values("uid")
    uids, sigs = list(group["uid"]), list(group["sig"])
    pairs = []
    for i in range(len(uids)):
        # Large buckets: compare to the first member only, keeping the work linear.
        for j in range(i + 1, len(uids)) if i < MAX_BUCKET_PAIRS else ():
            similarity = jaccard(sigs[i], sigs[j])
            if similarity >= threshold:
                pairs.append((uids[i], uids[j], similarity))
    return pd.DataFrame(pairs, columns=["a", "b", "jaccard"])


def clusters_from_pairs(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Connected components of the similarity pairs: representative (smallest uid) -> members."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving keeps trees flat
            node = parent[node]
        return node

    for a, b in pairs:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    clusters: dict[str, list[str]] = {}
    for node in sorted(parent):
        clusters.setdefault(find(node), []).append(node)
    return clusters


def near_drop_details(clusters: dict[str, list[str]]) -> tuple[dict[str, str], dict[str, int]]:
    """(uid -> drop detail) for every non-representative, and (representative -> cluster size)."""
    drops, sizes = {}, {}
    for keeper, members in clusters.items():
        sizes[keeper] = len(members)
        for member in members[1:]:
            drops[member] = f"near duplicate of {keeper} (cluster of {len(members)})"
    return drops, sizes


@dataclass
class NearClusters:
    """What near dedup found: the verified pairs (a < b, sorted), each non-representative's
    drop detail and each representative's cluster size."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    drops: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def near_clusters_of(pair_frames: list[pd.DataFrame]) -> NearClusters:
    """Join the verified pairs of every shard (`shard_pairs` results) into clusters."""
    pairs = sorted({(a, b) for frame in pair_frames if "a" in frame.columns
                    for a, b in zip(frame["a"], frame["b"], strict=True)})
    drops, sizes = near_drop_details(clusters_from_pairs(pairs))
    return NearClusters(pairs, drops, sizes)


def mark_near_duplicates(batch: pd.DataFrame, drops: dict[str, str],
                         sizes: dict[str, int]) -> pd.DataFrame:
    """Drop the non-representatives of near-duplicate clusters; count the keeper's cluster."""
    batch = batch.reset_index(drop=True)
    keys = pd.Series([uid(repo, path) for repo, path in zip(batch["repo"], batch["path"],
                                                             strict=True)], dtype=object)
    kept = batch["drop_reason"] == KEPT
    member = kept & keys.isin(drops.keys())
    keeper = kept & ~member & keys.isin(sizes.keys())
    mark_dropped(batch, member, "near_dedup", "near_duplicate", keys[member].map(drops))
    # astype: a block without keepers maps to an empty series that must still be numeric
    batch.loc[keeper, "dup_count"] += keys[keeper].map(sizes).astype("int64") - 1
    return batch
