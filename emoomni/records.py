"""Versioned JSONL records: one line per dataclass, a schema version on each, atomic file writes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def to_line(record: Any, version: int = SCHEMA_VERSION) -> str:
    """A dataclass as one JSON line carrying its schema version.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class R:
    ...     a: int
    >>> to_line(R(1))
    '{"a": 1, "schema": 1}'
    """
    return json.dumps({"schema": version, **asdict(record)}, ensure_ascii=False, sort_keys=True)


def checked_fields(cls: type, d: dict[str, Any], required: Sequence[str] = (), kind: str = "",
                   version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """The constructor arguments in a decoded line, after checking its schema version and field names."""
    d = dict(d)
    found = d.pop("schema", None)
    prefix = f"{kind} " if kind else ""
    if found != version:
        raise ValueError(f"{prefix}schema version {found!r}, expected {version}")
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {prefix}fields {sorted(unknown)}")
    missing = set(required) - set(d)
    if missing:
        raise ValueError(f"missing required fields {sorted(missing)}")
    return d


def write_lines(lines: Iterable[str], path: str | Path) -> Path:
    """Write JSONL lines atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)
    return path
