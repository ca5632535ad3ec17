"""Decontamination: drop files that contain benchmark material (HumanEval by default).

Two tests per (file, benchmark item): the item's whitespace-free text is a substring of the
file's, or the file holds at least `max_overlap` of the item's token n-grams. An n-gram index
makes the second test cheap and picks the candidate items for the first.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from codesweep.config.pipeline import DecontamConfig, ReferenceConfig
from codesweep.corpus.schema import mark_dropped
from codesweep.drops import KEPT
from codesweep.errors import CodesweepError
from codesweep.languages import code_words


@dataclass
class BenchmarkIndex:
    """Benchmark items, their normalised texts and an n-gram -> items index."""

    ngram: int
    ids: list[str] = field(default_factory=list)
    normalized: list[str] = field(default_factory=list)
    ngram_counts: list[int] = field(default_factory=list)
    index: dict[str, list[int]] = field(default_factory=dict)

    def add(self, item_id: str, text: str) -> None:
        """Index one benchmark item."""
        number = len(self.ids)
        grams = ngrams(text, self.ngram)
        self.ids.append(item_id)
        self.normalized.append("".join(text.split()))
        self.ngram_counts.append(len(grams))
        for gram in grams:
            self.index.setdefault(gram, []).append(number)

    def digest(self) -> str:
        """Content hash of the items: part of the cache key."""
        joined = "\0".join(f"{i}\0{t}" for i, t in zip(self.ids, self.normalized, strict=True))
        return hashlib.sha256(joined.encode()).hexdigest()


def ngrams(text: str, size: int, tokens: list[str] | None = None) -> set[str]:
    """Distinct token n-grams of a text (the whole token run when shorter than `size`);
    `tokens`: the text's `code_words` when the caller has them already."""
    tokens = code_words(text) if tokens is None else tokens
    if len(tokens) < size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i:i + size]) for i in range(len(tokens) - size + 1)}


def humaneval_items() -> list[tuple[str, str]]:
    """HumanEval prompts and full solutions (prompt + canonical solution), from the wheel."""
    from codesweep.evaluation.benchmarks import read_humaneval

    items = []
    for problem in read_humaneval():
        task_id = problem["task_id"]
        items.append((f"{task_id} prompt", problem["prompt"]))
        items.append((f"{task_id} solution", problem["prompt"] + problem["canonical_solution"]))
    return items


def reference_items(ref: ReferenceConfig, index: int, recipe_dir: Path) -> list[tuple[str, str]]:
    """Items of a recipe-named benchmark: JSONL records' fields, or a whole text file."""
    path = (recipe_dir / ref.path).resolve()
    where = f"decontam.references[{index}].path"
    if not path.is_file():
        raise CodesweepError(f"{where}: {path} not found")
    label = ref.name or path.name
    if not path.name.endswith((".jsonl", ".jsonl.gz")):
        return [(label, _read_text(path, where))]
    items = []
    for number, record in enumerate(_read_jsonl(path, where)):
        for name in ref.fields:
            if isinstance(record.get(name), str) and record[name].strip():
                items.append((f"{label}#{number} {name}", record[name]))
    return items


def _read_text(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CodesweepError(f"{where}: cannot read {path}: {exc}") from None


def _read_jsonl(path: Path, where: str) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    records, line_number = [], 0
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):  # noqa: B007 - used on error
                if line.strip():
                    records.append(json.loads(line))
    except (OSError, UnicodeDecodeError) as exc:
        raise CodesweepError(f"{where}: cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CodesweepError(
            f"{where}: {path} line {line_number}: invalid JSON ({exc.msg})") from None
    return [r for r in records if isinstance(r, dict)]


def build_index(cfg: DecontamConfig, recipe_dir: Path) -> BenchmarkIndex:
    """The index of every benchmark item the recipe asks to decontaminate against."""
    index = BenchmarkIndex(cfg.ngram)
    items = humaneval_items() if cfg.humaneval else []
    for number, ref in enumerate(cfg.references):
        items += reference_items(ref, number, recipe_dir)
    for item_id, text in items:
        index.add(item_id, text)
    return index


def contamination(text: str, bench: BenchmarkIndex, cfg: DecontamConfig,
                  tokens: list[str] | None = None) -> str | None:
    """Which benchmark item a file contains and how, or None when it is clean."""
    grams = ngrams(text, bench.ngram, tokens)
    hits = Counter(item for gram in grams for item in bench.index.get(gram, ()))
    if not hits:
        return None
    flat = "".join(text.split())
    for item, count in sorted(hits.items()):
        overlap = count / max(bench.ngram_counts[item], 1)
        if overlap >= cfg.max_overlap:
            return f"{bench.ids[item]}: {overlap:.0%} of its {bench.ngram}-grams"
        needle = bench.normalized[item]
        if len(needle) >= cfg.min_substring_chars and needle in flat:
            return f"{bench.ids[item]}: contained verbatim"
    return None


def mark_contaminated(batch: pd.DataFrame, bench: BenchmarkIndex, cfg: DecontamConfig,
                      tokens: list | None = None) -> pd.DataFrame:
    """The Ray Data decontamination step: mark kept rows that contain benchmark items
    (`tokens`: each row's `code_words`, when the caller has them)."""
    batch = batch.reset_index(drop=True)
    tokens = tokens if tokens is not None else [None] * len(batch)
    found = pd.Series([contamination(text, bench, cfg, words) if reason == KEPT else None
                       for text, reason, words in zip(batch["text"], batch["drop_reason"],
                                                      tokens, strict=True)], dtype=object)
    hit = found.notna()
    mark_dropped(batch, hit, "decontam", "contaminated", found[hit])
    return batch
