"""Helpers shared by the data-set adapters: tolerant CSV reading and media checks that feed a skip report."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from emoomni.data.manifest import SkipReport
from emoomni.media import MediaError, MediaInfo, probe


def decode_text(path: str | Path) -> str:
    """Read a text file as UTF-8 (with or without BOM), falling back to windows-1252.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.csv"
    >>> _ = p.write_bytes("It\\u2019s".encode("cp1252"))
    >>> decode_text(p)
    'It’s'
    """
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="strict")


def read_csv_rows(path: str | Path) -> list[dict[str, str]]:
    """Read a CSV with a header row into dicts, in UTF-8 or windows-1252; header names are stripped."""
    reader = csv.DictReader(io.StringIO(decode_text(path), newline=""))
    if reader.fieldnames is None:
        raise ValueError(f"{path}: empty CSV, no header row")
    reader.fieldnames = [(name or "").strip() for name in reader.fieldnames]
    return list(reader)


def relpath(root: Path, path: Path) -> str:
    """A path relative to the data root, with forward slashes (symlinks inside the root are kept as they are)."""
    return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()


def check_media(path: Path, report: SkipReport, need_audio: bool = False) -> MediaInfo | None:
    """Probe a media file; on a defect record it in the report and return None."""
    try:
        info = probe(path)
    except MediaError as e:
        reason = "missing file" if not path.exists() else "unreadable media"
        report.skip(path, f"{reason}: {e}")
        return None
    if need_audio and not info.has_audio:
        report.skip(path, f"no audio stream: {path} has no audio track")
        return None
    return info
