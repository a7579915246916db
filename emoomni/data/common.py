"""Helpers shared by the data-set adapters: finding a layout, reading text as a person would, media checks.

Structural problems (a missing root, a root without the expected folders, a CSV without a needed
column, a truncated label file) raise :class:`DataLayoutError` once, naming the path and what was
expected; the ``emoomni data index`` command turns it into one line and exit status 2. Problems of
one sample (a missing or corrupt clip, an unknown label) go to the :class:`SkipReport` and the run
goes on.
"""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from emoomni.data.manifest import SkipReport
from emoomni.media import MediaError, MediaInfo, probe

# windows-1252 gives these five bytes no character; as C1 code points they are dropped
_CP1252_UNDEFINED = (0x81, 0x8D, 0x8F, 0x90, 0x9D)
_C1_TABLE = {i: (None if i in _CP1252_UNDEFINED else bytes([i]).decode("cp1252")) for i in range(0x80, 0xA0)}
_C1_TABLE[0xA0] = " "  # a no-break space reads as a space


class DataLayoutError(ValueError, FileNotFoundError):
    """A data root lacks something an adapter needs: ``path`` names where, ``expected`` says what should be there."""

    def __init__(self, path: str | Path, expected: str) -> None:
        super().__init__(f"{path}: {expected}")
        self.path, self.expected = Path(path), expected

    def __str__(self) -> str:
        return f"{self.path}: {self.expected}"


def _cp1252_byte(ch: str) -> bytes:
    try:
        return ch.encode("cp1252")
    except UnicodeEncodeError:
        if ord(ch) < 256:  # the five bytes cp1252 leaves undefined survive as U+0081 ... U+009D
            return bytes([ord(ch)])
        raise


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as windows-1252 (``â€™`` -> ``’``); other text is returned as is.

    >>> fix_mojibake("Itâ€™s Joeyâ€¦")
    'It’s Joey…'
    >>> fix_mojibake("â€œHi!â€\\x9d")
    '“Hi!”'
    >>> fix_mojibake("Café, it’s fine"), fix_mojibake("naïve"), fix_mojibake("你好")
    ('Café, it’s fine', 'naïve', '你好')
    """
    if text.isascii():
        return text
    try:
        fixed = b"".join(_cp1252_byte(ch) for ch in text).decode("utf-8")
    except UnicodeError:
        return text
    return fixed


def clean_text(text: str) -> str:
    """Text as a person reads it: mojibake repaired, windows-1252 C1 characters made punctuation, NFC.

    The original MELD CSVs store windows-1252 punctuation as C1 control characters (U+0092 for
    the apostrophe, U+0085 for the ellipsis); they become the characters windows-1252 gives those
    bytes. The five C1 code points windows-1252 leaves undefined are dropped, and a no-break space
    becomes a space.

    >>> clean_text("my company\\x92s transition\\x85")
    'my company’s transition…'
    >>> clean_text("\\x93Okay\\x94 \\x96 fine\\x97 \\x91really\\x92")
    '“Okay” – fine— ‘really’'
    >>> clean_text("You donâ€™t get it!"), clean_text("Cafe\\u0301\\xa0au lait\\x81")
    ('You don’t get it!', 'Café au lait')
    """
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", fix_mojibake(text).translate(_C1_TABLE))


def decode_text(path: str | Path) -> str:
    """Read a text file as UTF-8 (with or without BOM), falling back to windows-1252.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.csv"
    >>> _ = p.write_bytes("It\\u2019s".encode("cp1252"))
    >>> decode_text(p)
    'It’s'
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataLayoutError(path, "file not found") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252", errors="strict")
    except UnicodeDecodeError as e:
        raise DataLayoutError(path, f"expected text in UTF-8 or windows-1252 (byte {e.start}: {e.reason})") from None


def _label(columns: str | Sequence[str]) -> str:
    return columns if isinstance(columns, str) else "/".join(columns)


def check_columns(path: str | Path, header: Iterable[str], required: Sequence[str | Sequence[str]]) -> None:
    """Raise DataLayoutError once when a required column (or each of its alternatives) is absent; case-insensitive."""
    have = {h.strip().lower() for h in header if isinstance(h, str)}
    missing = [_label(c) for c in required
               if not ({c.lower()} if isinstance(c, str) else {a.lower() for a in c}) & have]
    if missing:
        wanted = ", ".join(_label(c) for c in required)
        raise DataLayoutError(path, f"expected columns {wanted}; missing {', '.join(missing)} "
                                    f"(found: {', '.join(h for h in header if isinstance(h, str)) or 'none'})")


def read_csv_rows(path: str | Path, required: Sequence[str | Sequence[str]] = ()) -> list[dict[str, str]]:
    """Read a CSV with a header row into dicts: UTF-8 or windows-1252, cells through :func:`clean_text`.

    Header names are stripped. A missing file, an empty file or a missing ``required`` column
    (a name, or a tuple of alternatives) raises :class:`DataLayoutError` once for the whole file.
    """
    reader = csv.DictReader(io.StringIO(decode_text(path), newline=""))
    try:
        if reader.fieldnames is None:
            raise DataLayoutError(path, "expected a CSV with a header row; the file is empty")
        reader.fieldnames = [clean_text((name or "").strip()) for name in reader.fieldnames]
        check_columns(path, reader.fieldnames, required)
        rows = list(reader)
    except csv.Error as e:
        raise DataLayoutError(path, f"expected a readable CSV (line {reader.line_num}: {e})") from None
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str):
                row[key] = clean_text(value)
    return rows


def check_root(root: str | Path, dataset: str) -> Path:
    """The root as a Path; DataLayoutError when it is missing or not a directory."""
    root = Path(root)
    if not root.exists():
        raise DataLayoutError(root, f"no such directory; expected a local copy of {dataset}")
    if not root.is_dir():
        raise DataLayoutError(root, f"not a directory; expected the folder holding a local copy of {dataset}")
    return root


def find_base(root: str | Path, dataset: str, subdirs: Sequence[str], found: Callable[[Path], bool],
              expected: str) -> Path:
    """The first of ``root/<sub>`` (glob patterns allowed, "." is the root) where ``found`` holds.

    This is how an adapter accepts both the folder its archive unpacks to and the folder above it.
    Nothing found raises DataLayoutError naming the root, what was expected and where it looked.
    """
    root = check_root(root, dataset)
    for sub in subdirs:
        for base in sorted(root.glob(sub)) if any(c in sub for c in "*?[") else [root / sub]:
            if base.is_dir() and found(base):
                return root if sub == "." else base
    where = ", ".join(dict.fromkeys("the root" if s == "." else f"{s}/" for s in subdirs))
    raise DataLayoutError(root, f"expected {expected}; looked in {where}")


def where(root: Path, base: Path) -> str:
    """How a layout's base folder is named in a report: ``the root`` or its path relative to the root."""
    rel = relpath(root, base)
    return "the root" if rel == "." else f"{rel}/"


def shown(root: Path, path: Path) -> str:
    """A path as a report shows it: relative to the root when inside it, else as given."""
    try:
        return relpath(root, path)
    except ValueError:
        return str(path)


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
