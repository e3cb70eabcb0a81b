"""Strict dataclass <-> dict conversion, YAML loading and dotted overrides.

Used by every spec and by experiment configs: an unknown key is an error that lists
the known keys, a value of the wrong type is an error naming the key and the
expected type, and ``world.d=12`` style overrides are parsed as YAML scalars.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

# YAML 1.1 (PyYAML) reads "3e-4" as a string because it lacks a dot; treat such
# scientific-notation strings as the floats everyone means.
_SCI_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Check/convert `value` against the annotation `tp`; raise ValueError naming `where`."""
    if tp is Any or tp is object:
        return copy.deepcopy(value)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(f"'{where}': expected {_type_name(tp)}, got {_describe(value)}.")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"'{where}': expected bool (true/false), got {_describe(value)}.")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        raise ValueError(f"'{where}': expected int, got {_describe(value)}.")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _SCI_FLOAT.fullmatch(value.strip()):
            return float(value)
        raise ValueError(f"'{where}': expected float, got {_describe(value)}.")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"'{where}': expected str, got {_describe(value)}.")
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ValueError(f"'{where}': expected a mapping, got {_describe(value)}.")
        if len(args) == 2:
            return {
                _convert(args[0], k, _join(where, str(k))): _convert(
                    args[1], v, _join(where, str(k))
                )
                for k, v in value.items()
            }
        return copy.deepcopy(dict(value))
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"'{where}': expected a list, got {_describe(value)}.")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if origin is tuple and args:
            if len(args) != len(value):
                raise ValueError(
                    f"'{where}': expected {len(args)} items, got {len(value)}: {value!r}."
                )
            return tuple(
                _convert(a, v, f"{where}[{i}]")
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            )
        if origin is list and args:
            return [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
        return list(value) if (origin is list or tp is list) else tuple(value)
    # An unannotated or exotic type: accept as is rather than guess.
    return copy.deepcopy(value)


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from `data` strictly: unknown keys, missing keys and bad types raise."""
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"from_dict needs a dataclass type, got {cls!r}.")
    if not isinstance(data, Mapping):
        label = f"'{where}'" if where else cls.__name__
        raise ValueError(f"{label}: expected a mapping of keys to values, got {_describe(data)}.")
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    known = [f.name for f in fields]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" Did you mean '{_join(where, close[0])}'?" if close else ""
            raise ValueError(
                f"Unknown key '{_join(where, str(key))}'. Known keys: {', '.join(known)}.{hint}"
            )
    kwargs = {}
    for f in fields:
        if f.name in data:
            kwargs[f.name] = _convert(hints.get(f.name, Any), data[f.name], _join(where, f.name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"Missing key '{_join(where, f.name)}' (required by {cls.__name__}).")
    try:
        return cls(**kwargs)
    except ValueError as e:
        if not where:
            raise
        # Say where in a nested config the invalid spec sits; keep the error's class.
        try:
            new = type(e)(f"In '{where}': {e}")
        except Exception:
            new = ValueError(f"In '{where}': {e}")
        raise new from e


def to_dict(obj: Any) -> Any:
    """Dataclass (possibly nested) -> plain JSON/YAML-friendly dict; tuples become lists.

    Fields declared with `metadata={"omit_if_none": True}` are left out while None.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # A field with metadata omit_if_none is left out while None: an option added later
        # leaves the dicts (and fingerprints) of the specs written before it unchanged.
        return {
            f.name: to_dict(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not (f.metadata.get("omit_if_none") and getattr(obj, f.name) is None)
        }
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return obj.item()
    return obj


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping (an empty file gives {}).

    A missing file is a FileNotFoundError and a syntax error a ValueError, each naming
    the file (and for a syntax error the line and column) and the fix.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise FileNotFoundError(
            f"Config file not found: {os.fspath(path)!r} (relative paths start at "
            f"{os.getcwd()}); check the path."
        ) from None
    except yaml.YAMLError as err:
        raise ValueError(yaml_error_message(os.fspath(path), err)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"Config file {os.fspath(path)!r} must hold a mapping at the top level, "
            f"got {type(data).__name__}."
        )
    return data


def yaml_error_message(path: str, err: yaml.YAMLError) -> str:
    """`FILE, line L, column C: what is wrong`, and the fix, of a YAML syntax error."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    what = ": ".join(
        str(part) for part in (getattr(err, "context", None), getattr(err, "problem", None)) if part
    )
    return (
        f"{path}{where}: invalid YAML ({what or type(err).__name__}); fix the syntax there "
        "(indent with spaces, `key: value`, quote values holding ': ' or '#')."
    )


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of `data` with dotted `key.sub=value` overrides applied (YAML scalars)."""
    out = copy.deepcopy(dict(data))
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ValueError(f"Override {item!r} must look like key=value, e.g. world.d=12.")
        key, raw = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if not key or any(not p for p in parts):
            raise ValueError(f"Override {item!r} has an empty key part; write e.g. world.d=12.")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise ValueError(
                f"Override {item!r}: cannot parse value {raw!r} as YAML ({e})."
            ) from None
        if isinstance(value, str) and _SCI_FLOAT.fullmatch(value.strip()):
            value = float(value)
        node = out
        for i, p in enumerate(parts[:-1]):
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            elif not isinstance(nxt, dict):
                here = ".".join(parts[: i + 1])
                raise ValueError(
                    f"Override {item!r}: '{here}' holds a {type(nxt).__name__}, not a section."
                )
            node = nxt
        node[parts[-1]] = value
    return out


def load_config(cls: type[T], path: str | os.PathLike, overrides: Iterable[str] = ()) -> T:
    """Load YAML at `path`, apply dotted overrides, and build `cls` strictly."""
    return from_dict(cls, apply_overrides(load_yaml(path), overrides))


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory's entries (a rename into it) to disk; a no-op where unsupported."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:  # Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(path: str | os.PathLike) -> None:
    """Flush every file and directory under `path` (and `path` itself) to disk."""
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(root)


def write_atomic(path: str | os.PathLike, text: str | bytes) -> None:
    """Write `path` through `.NAME.tmp-PID` beside it and a rename, surviving a power cut.

    The temporary file is fsynced before the rename and the directory after it, so the
    path holds either the old or the whole new content, on disk, never half of one.
    """
    path = os.fspath(path)
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.tmp-{os.getpid()}")
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(head or ".")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
