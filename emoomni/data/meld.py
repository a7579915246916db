"""MELD adapter: index ``MELD.Raw`` (the three ``*_sent_emo.csv`` files and their video folders).

Each CSV row is one utterance clip ``dia{Dialogue_ID}_utt{Utterance_ID}.mp4`` in the split's video
folder (``train_splits/``, ``dev_splits_complete/``, ``output_repeated_splits_test/``). The CSVs and
folders are looked for in the root and in ``root/MELD.Raw``; the clips carry their own audio.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from emoomni.data.common import check_media, read_csv_rows, relpath
from emoomni.data.manifest import Sample, SkipReport
from emoomni.labels import LABEL_SETS

log = logging.getLogger(__name__)

# split -> (csv name, video folder name)
SPLITS: dict[str, tuple[str, str]] = {
    "train": ("train_sent_emo.csv", "train_splits"),
    "val": ("dev_sent_emo.csv", "dev_splits_complete"),
    "test": ("test_sent_emo.csv", "output_repeated_splits_test"),
}
EMOTIONS = ("neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust")
_MOJIBAKE_HINTS = ("â€", "Ã", "Â")


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
    >>> fix_mojibake("Café, it’s fine")
    'Café, it’s fine'
    """
    if not any(hint in text for hint in _MOJIBAKE_HINTS):
        return text
    try:
        return b"".join(_cp1252_byte(ch) for ch in text).decode("utf-8")
    except UnicodeError:
        return text


def find_base(root: Path) -> Path:
    """The folder holding the MELD CSVs: root itself or root/MELD.Raw."""
    for base in (root, root / "MELD.Raw"):
        if any((base / name).is_file() for name, _ in SPLITS.values()):
            return base
    names = ", ".join(name for name, _ in SPLITS.values())
    raise FileNotFoundError(f"no MELD CSV ({names}) in {root} or {root / 'MELD.Raw'}")


def _video_dir(root: Path, base: Path, folder: str) -> Path:
    """The split's video folder, next to the CSVs, in the root or in root/MELD.Raw."""
    for candidate in (base / folder, root / folder, root / "MELD.Raw" / folder):
        if candidate.is_dir():
            return candidate
    return base / folder


def _ids(row: dict[str, str]) -> tuple[int, int]:
    """Dialogue_ID and Utterance_ID as integers; ValueError names the bad column."""
    out = []
    for col in ("Dialogue_ID", "Utterance_ID"):
        value = (row.get(col) or "").strip()
        try:
            out.append(int(value))
        except ValueError:
            raise ValueError(f"{col} {value!r} is not an integer") from None
    return out[0], out[1]


def _text(row: dict[str, str], col: str) -> str | None:
    """A cell, stripped and with mojibake undone; None when empty or absent."""
    return fix_mojibake((row.get(col) or "").strip()) or None


def _meta(row: dict[str, str], dia: int, utt: int) -> dict[str, Any]:
    cols = {"speaker": "Speaker", "sentiment": "Sentiment", "season": "Season", "episode": "Episode",
            "start_time": "StartTime", "end_time": "EndTime"}
    return {"dialogue_id": dia, "utterance_id": utt, **{k: _text(row, c) for k, c in cols.items()},
            "audio_in_video": True}


def _index_split(root: Path, base: Path, split: str, report: SkipReport, seen: set[str]) -> list[Sample]:
    csv_name, folder = SPLITS[split]
    csv_path = base / csv_name
    if not csv_path.is_file():
        report.skip(csv_path, f"missing file: {csv_path} (no {split} split)")
        return []
    try:
        rows = read_csv_rows(csv_path)
    except (ValueError, csv.Error) as e:  # UnicodeDecodeError is a ValueError
        report.skip(csv_path, f"unreadable file: {csv_path}: {e}")
        return []
    videos = _video_dir(root, base, folder)
    samples = []
    for n, row in enumerate(tqdm(rows, desc=f"MELD {split}", unit="clip"), 1):
        where = f"{csv_name} row {n}"
        try:
            dia, utt = _ids(row)
        except ValueError as e:
            report.skip(csv_path, f"malformed row: {where}: {e}")
            continue
        emotion = (row.get("Emotion") or "").strip()
        label = LABEL_SETS["meld"].canonical(emotion) if emotion.lower() in EMOTIONS else None
        if label is None:
            report.skip(csv_path, f"unknown label: {where}: emotion {emotion!r}")
            continue
        sid = f"meld-{split}-dia{dia}_utt{utt}"
        if sid in seen:
            report.skip(csv_path, f"duplicate row: {where}: dia{dia}_utt{utt} listed twice")
            continue
        clip = videos / f"dia{dia}_utt{utt}.mp4"
        if check_media(clip, report, need_audio=True) is None:
            continue
        seen.add(sid)
        samples.append(Sample(
            id=sid, dataset="meld", split=split, video=relpath(root, clip), audio=None,
            transcript=_text(row, "Utterance"), label=label,
            meta=_meta(row, dia, utt),
        ))
    return samples


def index(
    root: str | Path, splits: tuple[str, ...] | list[str] = ("train", "val", "test")
) -> tuple[list[Sample], SkipReport]:
    """Index MELD utterance clips of the chosen splits ("train", "val" = dev, "test").

    Clips are audio-visual (audio read from the video track, ``meta["audio_in_video"]``); a clip
    without an audio stream is skipped. Transcripts are the ``Utterance`` column, with windows-1252
    CSVs and ``â€™``-style mojibake decoded.
    """
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown MELD splits {sorted(unknown)}; known: {', '.join(SPLITS)}")
    root = Path(root)
    base = find_base(root)
    report, samples, seen = SkipReport("meld"), [], set()
    for split in splits:
        samples += _index_split(root, base, split, report, seen)
    report.kept = len(samples)
    log.info(report.summary())
    return samples, report
