"""Versioned JSONL records: one line per dataclass, a schema version on each, atomic file writes."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

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
    """Write JSONL lines atomically (a temporary file of this process renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two processes writing one file never share it
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)
    return path


def load_journal(path: str | Path, parse: Callable[[dict], Any], key: str = "sample_id") -> tuple[dict[str, Any], bool]:
    """Records of an append-only JSONL journal by ``key`` (first occurrence wins), and whether it needs rewriting.

    A torn last line (an append cut short by a kill) is dropped; a bad line elsewhere raises an error
    naming ``file:line``. The flag is set when a line was dropped, a record repeated, or the file does
    not end in a newline (the next append would glue onto it).
    """
    path = Path(path)
    done: dict[str, Any] = {}
    raw = path.read_text(encoding="utf-8")
    dirty = bool(raw) and not raw.endswith("\n")
    lines = raw.split("\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = parse(json.loads(line))
        except (ValueError, TypeError) as e:
            if i == last:
                log.warning("%s: dropping a torn last line", path)
                dirty = True
                continue
            raise ValueError(f"{path}:{i + 1}: {e}") from e
        if getattr(record, key) in done:
            dirty = True
            continue
        done[getattr(record, key)] = record
    return done, dirty


def append_lines(lines: Iterable[str], path: str | Path) -> None:
    """Append JSONL lines to a journal and flush them to disk (a kill loses at most the line being written)."""
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
        fh.flush()
        os.fsync(fh.fileno())
