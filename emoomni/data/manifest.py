"""The Sample record, JSONL manifests with a schema version, path confinement and skip reports."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from emoomni.labels import label_set
from emoomni.records import SCHEMA_VERSION, checked_fields, to_line, write_lines

__all__ = ["SCHEMA_VERSION", "ManifestError", "Sample", "SkipReport", "read_manifest", "resolve_media",
           "validate_sample", "write_manifest"]



class ManifestError(ValueError):
    """A manifest or one of its records is invalid; the message names the file and line."""


@dataclass(frozen=True)
class Sample:
    """One clip to recognise: media paths relative to the data root, transcript, gold label, extra meta."""

    id: str
    dataset: str
    split: str
    video: str | None = None
    audio: str | None = None
    transcript: str | None = None
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One JSONL line, carrying the schema version."""
        return to_line(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Sample":
        """Build a Sample from a decoded JSONL line, checking the schema version and fields."""
        return cls(**checked_fields(cls, d, required=("id", "dataset", "split")))


def resolve_media(data_root: str | Path, rel: str) -> Path:
    """Resolve a manifest media path inside ``data_root``; absolute paths and ``..`` escapes are refused.

    Confinement is lexical: a symlink the user placed inside the data root (a folder on another
    disk, say) is followed as theirs, but no manifest entry can climb out of the root.

    >>> resolve_media("/data", "clips/a.mp4").as_posix()
    '/data/clips/a.mp4'
    >>> resolve_media("/data", "clips/../../etc/passwd")
    Traceback (most recent call last):
    ...
    emoomni.data.manifest.ManifestError: media path 'clips/../../etc/passwd' escapes the data root /data
    """
    if not rel or PurePosixPath(rel).is_absolute() or Path(rel).is_absolute() or "\\" in rel:
        raise ManifestError(f"media path {rel!r} must be relative to the data root, with forward slashes")
    root = Path(os.path.abspath(data_root))
    path = Path(os.path.normpath(root / rel))
    if path == root or not path.is_relative_to(root):
        raise ManifestError(f"media path {rel!r} escapes the data root {root}")
    return path


def validate_sample(sample: Sample, data_root: str | Path | None = None, check_files: bool = False) -> None:
    """Check required fields, the label against the data set's label set, and media confinement."""
    for name in ("id", "dataset", "split"):
        if not getattr(sample, name):
            raise ManifestError(f"sample {sample.id!r}: field {name!r} is empty")
    if sample.video is None and sample.audio is None:
        raise ManifestError(f"sample {sample.id!r}: neither video nor audio is given")
    labels = sample.meta.get("label_set", sample.dataset)
    if sample.label is not None and sample.label not in label_set(labels).labels:
        raise ManifestError(f"sample {sample.id!r}: label {sample.label!r} is not in label set {labels!r}")
    for rel in (sample.video, sample.audio):
        if rel is None:
            continue
        if data_root is None:
            resolve_media("/", rel)
        else:
            path = resolve_media(data_root, rel)
            if check_files and not path.is_file():
                raise ManifestError(f"sample {sample.id!r}: media file {path} does not exist")


def write_manifest(samples: list[Sample], path: str | Path) -> Path:
    """Write samples as JSONL (atomically: a temporary file renamed into place)."""
    return write_lines((s.to_json() for s in samples), path)


def read_manifest(path: str | Path, data_root: str | Path | None = None, check_files: bool = False) -> list[Sample]:
    """Read and validate a JSONL manifest; errors name the file and the line."""
    path = Path(path)
    samples, seen = [], set()
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                sample = Sample.from_dict(json.loads(line))
                validate_sample(sample, data_root, check_files)
            except (ValueError, KeyError, TypeError) as e:
                raise ManifestError(f"{path}:{lineno}: {e}") from e
            if sample.id in seen:
                raise ManifestError(f"{path}:{lineno}: duplicate sample id {sample.id!r}")
            seen.add(sample.id)
            samples.append(sample)
    return samples


@dataclass
class SkipReport:
    """What an adapter left out and why: one entry per skipped file, with counts by reason, and the layout found."""

    dataset: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)
    kept: int = 0
    layout: str | None = None

    def skip(self, file: str | Path, reason: str) -> None:
        """Record a sample left out because of a defect (missing, corrupt, unparseable ...)."""
        self.skipped.append((str(file), reason))

    def exclude(self, why: str) -> None:
        """Count a well-formed sample left out by the protocol (a class outside the label set ...)."""
        self.excluded[why] += 1

    def counts(self) -> Counter:
        """Skipped samples per reason (the reason's text up to its first colon)."""
        return Counter(r.split(":")[0] for _, r in self.skipped)

    def summary(self) -> str:
        """A short human-readable summary."""
        parts = [f"{self.dataset}: kept {self.kept}, skipped {len(self.skipped)}"]
        parts += [f"  layout: {self.layout}"] if self.layout else []
        parts += [f"  skipped, {why}: {n}" for why, n in sorted(self.counts().items())]
        parts += [f"  excluded, {why}: {n}" for why, n in sorted(self.excluded.items())]
        return "\n".join(parts)
