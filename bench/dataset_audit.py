"""Audit a prepared dataset for what a reviewer checks first (not part of CI).

    python bench/dataset_audit.py <prepared dataset directory>

Reads files/<split>/ and tasks/<task>/<split>/ and prints, independently of the manifest:
  1. eval rows leaking train content: FIM rows whose whole function appears verbatim in a
     train file, naming rows identical (code and label) to a train row, completion rows whose
     last 200 prompt characters plus target appear verbatim in a train file (whitespace-free);
  2. naming rows that still give the label away, per kind (`tasks.naming_leaks`);
  3. repositories per split;
  4. for completion tasks, the share of train file code tokens that train windows use;
  5. completion targets cut inside a word, and whitespace-only targets;
  plus kept files whose first lines still read like a licence header.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from codesweep.languages import count_code_tokens
from codesweep.tasks.naming_leaks import find_leaks

SPLITS = ("train", "validation", "test")
EVAL = ("validation", "test")
LICENCE = re.compile(r"copyright|licensed under|spdx-license-identifier", re.IGNORECASE)


def read(directory: Path) -> pd.DataFrame:
    """A Parquet dataset directory, or an empty frame when it is missing."""
    return pd.read_parquet(directory) if directory.is_dir() else pd.DataFrame()


def flat(text: str) -> str:
    return "".join(str(text).split())


def task_kind(frame: pd.DataFrame) -> str:
    if {"code", "label"} <= set(frame.columns):
        return "function_naming"
    return "fim" if "prefix" in frame.columns else "completion"


def leaked_rows(kind: str, train_rows: pd.DataFrame, rows: pd.DataFrame, train_text: str) -> int:
    """Item 1: eval rows whose content a model saw in train (see the module docstring)."""
    if kind == "function_naming":
        seen = set(zip(train_rows.get("code", []), train_rows.get("label", []), strict=True))
        return sum((code, label) in seen for code, label in zip(rows["code"], rows["label"],
                                                                strict=True))
    if kind == "fim":
        texts = (rows["prefix"] + rows["middle"] + rows["suffix"]).map(flat)
    else:
        texts = (rows["prompt"].str[-200:] + rows["completion"]).map(flat)
    return sum(bool(text) and text in train_text for text in texts)


def naming_leaks(rows: pd.DataFrame) -> Counter:
    """Item 2: kept naming rows per leak kind (a row counts once per kind)."""
    kinds: Counter = Counter()
    for row in rows.itertuples():
        kinds.update({leak.kind for leak in find_leaks(row.label, row.code, row.language,
                                                       "__masked__")})
    return kinds


def completion_checks(rows: pd.DataFrame) -> tuple[int, int]:
    """Item 5: targets cut inside a word, whitespace-only targets."""
    inside = sum(bool(p) and bool(c) and (p[-1].isalnum() or p[-1] == "_")
                 and (c[0].isalnum() or c[0] == "_")
                 for p, c in zip(rows["prompt"], rows["completion"], strict=True))
    blank = int((rows["completion"].str.strip() == "").sum())
    return inside, blank


def audit(root: Path) -> None:
    """Print the audit of one prepared dataset."""
    files = {split: read(root / "files" / split) for split in SPLITS}
    train_files = files["train"]
    train_text = "\0".join(flat(text) for text in train_files.get("text", []))
    print(f"dataset: {root}")
    for split in SPLITS:
        repos = sorted(set(files[split].get("repo", [])))
        print(f"3. {split}: {len(files[split])} files from {len(repos)} repos {repos}")
    headers = sum(bool(LICENCE.search("\n".join(str(t).splitlines()[:30])))
                  for frame in files.values() for t in frame.get("text", []))
    print(f"   kept files with a licence-like header in their first 30 lines: {headers}")
    for task_dir in sorted(p for p in (root / "tasks").iterdir() if p.is_dir()):
        audit_task(task_dir, train_files, train_text)


def audit_task(task_dir: Path, train_files: pd.DataFrame, train_text: str) -> None:
    """Print items 1, 2, 4 and 5 for one task."""
    splits = {split: read(task_dir / split) for split in SPLITS}
    present = [frame for frame in splits.values() if len(frame)]
    if not present:
        return
    kind = task_kind(present[0])
    print(f"task {task_dir.name} ({kind}):")
    for split in EVAL:
        rows = splits[split]
        if len(rows):
            leaked = leaked_rows(kind, splits["train"], rows, train_text)
            print(f"1. {split}: {leaked} of {len(rows)} rows leak train content "
                  f"({100 * leaked / len(rows):.1f} %)")
    if kind == "function_naming":
        for split, rows in splits.items():
            if len(rows):
                print(f"2. {split}: label leaks per kind {dict(naming_leaks(rows))} "
                      f"of {len(rows)} rows")
    if kind == "completion" and len(splits["train"]):
        train = splits["train"]
        used = sum(count_code_tokens(p) + count_code_tokens(c)
                   for p, c in zip(train["prompt"], train["completion"], strict=True))
        total = sum(count_code_tokens(text) for text in train_files.get("text", []))
        print(f"4. train windows use {used} of {total} file code tokens "
              f"({100 * used / max(total, 1):.1f} %; overlapping windows can exceed 100)")
        for split, rows in splits.items():
            if len(rows):
                inside, blank = completion_checks(rows)
                print(f"5. {split}: {inside} targets cut inside a word, {blank} blank, "
                      f"of {len(rows)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="a prepared dataset directory")
    audit(parser.parse_args().dataset)


if __name__ == "__main__":
    main()
