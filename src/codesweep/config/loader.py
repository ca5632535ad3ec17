"""Load a recipe: resolve `extends:` chains, apply `-o a.b=c` overrides, validate with pydantic.

Every failure is a `CodesweepError` whose message is one line naming the file, the dotted
path, what is allowed and, where a close name exists, a "did you mean" suggestion.

`extends:` merges mappings key by key, child wins, except a search domain: a child's
`sweep.space` entry replaces the parent's entry for that key whole, so a child can change a
domain's kind (`loguniform` in the parent, `uniform` in the child).

Override keys are dotted paths; a key that itself contains dots goes in brackets, quoted
(quote the whole argument for the shell):

    -o lora.r=16
    -o sources.0.path=src                                  # list items by index
    -o 'sweep.space["optim.lr"].loguniform=[1e-4, 1e-3]'   # one domain, replaced whole
    -o 'sweep.space["lora.r"]={choice: [8, 16]}'

Under `sweep.space` the brackets may be left out, since every space key is a dotted recipe
path: `-o sweep.space.optim.lr.loguniform=[1e-4,1e-3]` is the same as the line above it.
Setting a domain's kind (`...loguniform=`) replaces the whole domain, as `extends:` does.

An override of a key that `sweep.space` searches would be overwritten by every trial, so it
is an error, unless `drop_searched` (the CLI's `--fix-searched`) is given: then the key keeps
the overridden value and leaves the search (and `sweep.points_to_evaluate`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from codesweep.errors import CodesweepError, did_you_mean

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_EXTENDS_DEPTH = 16
SEARCH_SPACE = ("sweep", "space")
DOMAIN_KINDS = ("choice", "uniform", "loguniform", "int")
# One key of an override path: a bare name, or a quoted name in brackets (it may hold dots).
_KEY_PART = re.compile(
    r"""\[(?P<quote>["'])(?P<quoted>[^"']+)(?P=quote)\]|(?P<bare>[^.\[\]"'=]+)""")


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping, with one-line errors for a missing, unreadable or bad file."""
    data = _parse_yaml(path, _read_text(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise CodesweepError(f"{path}: a recipe must be a mapping of keys, got {kind}")
    return data


def _read_text(path: Path) -> str:
    """The file's text; one-line errors for a missing, unreadable or non-UTF-8 file."""
    if not path.is_file():
        raise CodesweepError(f"{path}: recipe file not found")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CodesweepError(f"{path}: cannot read the recipe: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CodesweepError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the "
            "recipe as UTF-8") from None


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CodesweepError(f"{path}:{where} invalid YAML: {problem}") from None


def deep_merge(base: dict[str, Any], override: dict[str, Any],
               _at: tuple[str, ...] = ()) -> dict[str, Any]:
    """Merge `override` into a copy of `base`; nested mappings merge, everything else replaces.

    A search domain (`sweep.space.<key>`) is replaced whole: merging `{uniform: ...}` into
    `{loguniform: ...}` would give a domain of two kinds.
    """
    merged = copy.deepcopy(base)
    for key, value in override.items():
        mergeable = isinstance(value, dict) and isinstance(merged.get(key), dict)
        if mergeable and _at != SEARCH_SPACE:
            merged[key] = deep_merge(merged[key], value, (*_at, key))
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
    """Split `a.b.c=value` into a key path and a YAML-typed value (`3e-4` -> float).

    A key part in quoted brackets may contain dots: `sweep.space["optim.lr"].uniform=[0, 1]`.
    """
    keys, end = split_key(text)
    raw = text[end + 1:]
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        value = _number_or_text(value)
    return keys, value


def split_key(text: str) -> tuple[list[str], int]:
    """The key path of `a.b["c.d"].e=value` (["a", "b", "c.d", "e"]) and where its `=` is."""
    parts: list[str] = []
    position = 0
    while True:
        match = _KEY_PART.match(text, position)
        if match is None:
            raise CodesweepError(f"override {text!r}: expected KEY.PATH=VALUE, e.g. lora.r=16 "
                                 'or \'sweep.space["optim.lr"].uniform=[1e-4, 1e-3]\'')
        parts.append((match["quoted"] or match["bare"]).strip())
        position = match.end()
        if text.startswith("=", position):
            return parts, position
        if text.startswith(".", position):
            position += 1


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
        keys, value = space_domain_path(*parse_override(text))
        node: Any = result
        for depth, key in enumerate(keys[:-1]):
            node = _child(node, key, text, ".".join(keys[: depth + 1]))
        _assign(node, keys[-1], value, text)
    return result


def space_domain_path(keys: list[str], value: Any) -> tuple[list[str], Any]:
    """Read an override under `sweep.space` as (domain key, domain): `sweep.space.optim.lr.
    uniform=[0, 1]` -> (["sweep", "space", "optim.lr"], {"uniform": [0, 1]}).

    Space keys are dotted recipe paths, so an unbracketed key is joined back together; a kind
    as the last part replaces the whole domain rather than adding a second kind to it.
    """
    if tuple(keys[:2]) != SEARCH_SPACE or len(keys) < 3:
        return keys, value
    tail = keys[2:]
    if "." not in tail[0]:  # written without brackets: the dots were the key's own
        kind = [tail.pop()] if len(tail) > 2 and tail[-1] in DOMAIN_KINDS else []
        tail = [".".join(tail), *kind]
    if len(tail) == 2 and tail[1] in DOMAIN_KINDS:
        return [*SEARCH_SPACE, tail[0]], {tail[1]: value}
    return [*SEARCH_SPACE, *tail], value


def check_searched_overrides(data: dict[str, Any], overrides: list[str],
                             drop_searched: bool = False) -> dict[str, Any]:
    """Refuse an override of a key that `sweep.space` searches (every trial would overwrite
    it); with `drop_searched`, take such keys out of the search instead."""
    space = (data.get("sweep") or {}).get("space")
    if not isinstance(space, dict) or not space:
        return data
    result = copy.deepcopy(data)
    for text in overrides:
        keys, _ = parse_override(text)
        if tuple(keys[:1]) == SEARCH_SPACE[:1]:
            continue
        dotted = ".".join(keys)
        for searched in [key for key in space if _overlaps(dotted, key)]:
            if not drop_searched:
                raise CodesweepError(
                    f"override {text!r}: sweep.space searches {searched}, so every trial would "
                    f"overwrite it; pass --fix-searched to keep this value and drop {searched} "
                    f"from the search, or override the domain: "
                    f"-o 'sweep.space[\"{searched}\"].choice=[...]'")
            _drop_from_search(result["sweep"], searched)
    return result


def _overlaps(dotted: str, searched: str) -> bool:
    """`lora.r` overlaps `lora.r`, and so do `lora` (a whole section) and `lora.r.x`."""
    return (dotted == searched or dotted.startswith(f"{searched}.")
            or searched.startswith(f"{dotted}."))


def _drop_from_search(sweep: dict[str, Any], key: str) -> None:
    sweep["space"].pop(key, None)
    points = [{name: value for name, value in point.items() if name != key}
              for point in sweep.get("points_to_evaluate") or [] if isinstance(point, dict)]
    sweep["points_to_evaluate"] = [point for point in points if point]


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


def describe_error(schema: type[BaseModel], error: Mapping[str, Any], source: str | Path) -> str:
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
    path: str | Path, schema: type[ModelT], overrides: list[str] | None = None,
    *, drop_searched: bool = False,
) -> ModelT:
    """Load, merge, override and validate a recipe file into a typed config object.

    `drop_searched`: an override of a key that `sweep.space` searches removes that key from
    the search (without it, such an override is an error).
    """
    overrides = overrides or []
    data = apply_overrides(load_yaml_tree(path), overrides)
    data = check_searched_overrides(data, overrides, drop_searched)
    return validate(schema, data, Path(path))
