"""Load a recipe: resolve `extends:` chains, apply `-o a.b=c` overrides, validate with pydantic.

Every failure is a `CodesweepError` whose message is one line naming the file, the dotted
path, what is allowed and, where a close name exists, a "did you mean" suggestion.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from codesweep.errors import CodesweepError, did_you_mean

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_EXTENDS_DEPTH = 16


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping, with one-line errors for a missing file or bad syntax."""
    if not path.is_file():
        raise CodesweepError(f"{path}: recipe file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CodesweepError(f"{path}:{where} invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise CodesweepError(f"{path}: a recipe must be a mapping of keys, got {kind}")
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge `override` into a copy of `base`; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_yaml_tree(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Load a recipe and every parent named by `extends:` (relative to the child), child wins."""
    path = Path(path).resolve()
    if path in _chain:
        cycle = " -> ".join(p.name for p in (*_chain, path))
        raise CodesweepError(f"{path}: extends: forms a cycle ({cycle})")
    if len(_chain) >= MAX_EXTENDS_DEPTH:
        raise CodesweepError(f"{path}: extends: chain deeper than {MAX_EXTENDS_DEPTH} recipes")
    data = read_yaml(path)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return data
    if not isinstance(parent_ref, str):
        raise CodesweepError(f"{path}: extends: must be a path to a parent recipe")
    parent_path = (path.parent / parent_ref).resolve()
    if not parent_path.is_file():
        raise CodesweepError(f"{path}: extends: parent recipe {parent_ref} not found")
    return deep_merge(load_yaml_tree(parent_path, (*_chain, path)), data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b.c=value` into a key path and a YAML-typed value (`3e-4` -> float)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise CodesweepError(f"override {text!r}: expected KEY.PATH=VALUE, e.g. lora.r=16")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        value = _number_or_text(value)
    return key.strip().split("."), value


def _number_or_text(raw: str) -> Any:
    # YAML 1.1 reads "3e-4" as a string (it wants "3.0e-4"); users type the short form.
    try:
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    except ValueError:
        return raw


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply dotted `-o` overrides (`lora.r=16`, `sources.0.path=src`) to a recipe mapping."""
    result = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node: Any = result
        for depth, key in enumerate(keys[:-1]):
            node = _child(node, key, text, ".".join(keys[: depth + 1]))
        _assign(node, keys[-1], value, text)
    return result


def _child(node: Any, key: str, text: str, dotted: str) -> Any:
    """Step into a mapping (creating it) or a list item (by index) on an override's path."""
    if isinstance(node, list):
        return node[_index(node, key, text)]
    child = node.setdefault(key, {})
    if not isinstance(child, (dict, list)):
        raise CodesweepError(f"override {text!r}: {dotted} is a value, not a section")
    return child


def _assign(node: Any, key: str, value: Any, text: str) -> None:
    if isinstance(node, list):
        node[_index(node, key, text)] = value
    else:
        node[key] = value


def _index(items: list[Any], key: str, text: str) -> int:
    if not key.isdigit() or int(key) >= len(items):
        raise CodesweepError(f"override {text!r}: {key!r} is not an index of a list of "
                             f"{len(items)} items (use 0..{len(items) - 1})")
    return int(key)


def validate(schema: type[ModelT], data: dict[str, Any], source: str | Path) -> ModelT:
    """Validate `data` against `schema`; raise a one-line CodesweepError on the first problem."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise CodesweepError(describe_error(schema, exc.errors()[0], source)) from None


def describe_error(schema: type[BaseModel], error: dict[str, Any], source: str | Path) -> str:
    """Turn one pydantic error into `file: path: problem; allowed ... (did you mean ...)`."""
    location = [str(part) for part in error["loc"]]
    dotted = ".".join(location) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = allowed_keys(schema, location[:-1])
        hint = did_you_mean(location[-1], allowed)
        return (f"{source}: {dotted}: unknown key{hint}; allowed keys here: "
                f"{', '.join(sorted(allowed))}")
    if error["type"] == "value_error":  # our validators write the whole sentence themselves
        reason = str((error.get("ctx") or {}).get("error", error["msg"]))
        prefix = "" if not location else f"{dotted}: "
        return f"{source}: {prefix}{reason}"
    got = error.get("input")
    got_text = "" if isinstance(got, dict) else f" (got {got!r})"
    message = error["msg"]
    expected = (error.get("ctx") or {}).get("expected")
    hint = did_you_mean(got, _split_expected(expected)) if expected and isinstance(got, str) else ""
    return f"{source}: {dotted}: {message}{got_text}{hint}"


def _split_expected(expected: str) -> list[str]:
    return [part.strip(" '\"") for part in expected.replace(" or ", ",").split(",") if part.strip()]


def allowed_keys(schema: type[BaseModel], location: list[str]) -> list[str]:
    """The field names accepted at a dotted location of a nested pydantic schema."""
    model: Any = schema
    for part in location:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _model_of(field.annotation)
    return list(getattr(model, "model_fields", {}))


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def load_recipe(
    path: str | Path, schema: type[ModelT], overrides: list[str] | None = None
) -> ModelT:
    """Load, merge, override and validate a recipe file into a typed config object."""
    data = apply_overrides(load_yaml_tree(path), overrides or [])
    return validate(schema, data, Path(path))
