"""The cache key of a prepared dataset and its `manifest.json`."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from codesweep import __version__, integrity
from codesweep.config.pipeline import PipelineConfig
from codesweep.corpus.sources import ResolvedSource

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2  # 2: splits written sorted by content hash (files) or id (tasks)


def source_entry(source: ResolvedSource) -> dict[str, Any]:
    """How a source was resolved: what the manifest records and the key hashes."""
    return {"name": source.name, "kind": source.kind, "location": source.location,
            "requested_revision": source.requested, "revision": source.revision,
            "files_listed": source.count + len(source.dropped)}


def cache_key(config: PipelineConfig, sources: list[ResolvedSource], bench_digest: str) -> str:
    """Content hash of everything the output depends on.

    The validated config (so defaults count), each source's resolved commit or listing
    hash, the benchmark items, and the codesweep version (code changes change outputs).
    """
    payload = {"config": config.model_dump(mode="json"),
               "sources": [source_entry(s) for s in sources],
               "benchmarks": bench_digest, "version": __version__,
               "manifest_version": MANIFEST_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def config_hash(config: PipelineConfig) -> str:
    """Hash of the validated recipe alone."""
    return hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True)
                          .encode()).hexdigest()


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write manifest.json (last, so its presence marks a complete output), with the size
    and checksums of every other file of `directory` under `integrity`."""
    manifest["integrity"] = integrity.record(directory, exclude=(MANIFEST,))
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def check_prepared(directory: Path, full: bool = False) -> str | None:
    """Why a cached prepared dataset cannot be reused (one line), or None when its files
    match the manifest's record (sizes and file ends; every byte with `full`)."""
    try:
        recorded = read_manifest(directory).get("integrity")
    except ValueError as exc:
        return f"{directory / MANIFEST}: unreadable ({exc})"
    if recorded is None:
        return f"{directory / MANIFEST}: records no file checksums (written by an older version)"
    problems = integrity.verify(directory, recorded, exclude=(MANIFEST,), full=full)
    return integrity.describe(directory, problems) if problems else None


def read_manifest(directory: Path) -> dict[str, Any]:
    """Read a prepared dataset's manifest."""
    return json.loads((directory / MANIFEST).read_text())


def base_manifest(config: PipelineConfig, key: str, sources: list[ResolvedSource]) -> dict:
    """The parts of the manifest known before any work runs."""
    return {"manifest_version": MANIFEST_VERSION, "name": config.name, "key": key,
            "codesweep_version": __version__, "config_hash": config_hash(config),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": config.model_dump(mode="json"),
            "sources": [source_entry(s) for s in sources]}
