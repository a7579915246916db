"""Settings files: plain YAML mappings -> frozen (nested) dataclasses, refusing unknown keys and wrong types.

Every settings dataclass of the library (the trainers', the profiles') is built through :func:`build`,
so a misspelt key or a wrong type fails with the file and the key named. A field declared with
:func:`when_set` enters cache keys and run metadata (:func:`key_dict`) only when it differs from its
default, so adding such a field leaves every existing cache key as it was.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A settings file or profile is malformed: unknown key, wrong type or missing file; the message says where."""


KEY_WHEN_SET = "key_when_set"
"""Field metadata: the field enters :func:`key_dict` only when its value differs from the default."""


def when_set(default: Any) -> Any:
    """A dataclass field with ``default`` that cache keys see only when it is set to another value."""
    return dataclasses.field(default=default, metadata={KEY_WHEN_SET: True})


def key_dict(obj: Any) -> Any:
    """``dataclasses.asdict`` for cache keys and run metadata: :func:`when_set` fields at their default are left out.

    >>> @dataclasses.dataclass
    ... class S:
    ...     a: int = 1
    ...     b: str = when_set("fixed")
    >>> key_dict(S()), key_dict(S(b="free"))
    ({'a': 1}, {'a': 1, 'b': 'free'})
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get(KEY_WHEN_SET) and value == f.default:
                continue
            out[f.name] = key_dict(value)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(key_dict(v) for v in obj)
    if isinstance(obj, dict):
        return {k: key_dict(v) for k, v in obj.items()}
    return obj


def settings_file(cls: type, path: str | Path | None, **overrides: Any) -> Any:
    """A settings dataclass from a YAML mapping of its fields (unknown keys raise), with non-None overrides on top."""
    raw = yaml.safe_load(Path(path).read_text()) if path else {}
    raw = {**(raw or {}), **{k: v for k, v in overrides.items() if v is not None}}
    return build(cls, raw, str(path or "settings"))


def build(cls: type, data: Any, where: str) -> Any:
    """Build a (nested) frozen dataclass from plain data, refusing unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} for {cls.__name__}; known: {sorted(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{where}:{k}") for k, v in data.items()}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Check (and lightly convert) one value against its annotated type."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = typing.get_args(tp)[0]
        return tuple(_coerce(inner, v, where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, vt = typing.get_args(tp)
        return {str(k): _coerce(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and not (isinstance(value, tp) and not (tp is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value
