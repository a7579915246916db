"""MELD adapter: index ``MELD.Raw`` (the three ``*_sent_emo.csv`` files and their video folders).

Each CSV row (columns ``Sr No., Utterance, Speaker, Emotion, Sentiment, Dialogue_ID, Utterance_ID,
Season, Episode, StartTime, EndTime``, as in declare-lab/MELD) is one utterance clip
``dia{Dialogue_ID}_utt{Utterance_ID}.mp4`` in the split's video folder (``train_splits/``,
``dev_splits_complete/``, ``output_repeated_splits_test/``); the clips carry their own audio. Layouts::

    MELD.Raw/train/train_sent_emo.csv  MELD.Raw/train/train_splits/         (the release archive unpacked)
    MELD.Raw/dev/dev_sent_emo.csv      MELD.Raw/dev/dev_splits_complete/
    MELD.Raw/test/test_sent_emo.csv    MELD.Raw/test/output_repeated_splits_test/
    MELD.Raw/train_sent_emo.csv        MELD.Raw/train_splits/ ...           (flat)

``MELD.Raw`` may be the root, a folder in it, or one level deeper (``MELD-RAW/MELD.Raw``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from emoomni.progress import tqdm

from emoomni.data import common
from emoomni.data.common import check_media, clean_text, read_csv_rows, relpath
from emoomni.data.manifest import Sample, SkipReport
from emoomni.labels import LABEL_SETS

log = logging.getLogger(__name__)

# split -> (csv name, video folder name, the split's folder in the release archive)
SPLITS: dict[str, tuple[str, str, str]] = {
    "train": ("train_sent_emo.csv", "train_splits", "train"),
    "val": ("dev_sent_emo.csv", "dev_splits_complete", "dev"),
    "test": ("test_sent_emo.csv", "output_repeated_splits_test", "test"),
}
SPLIT_ALIASES = {"dev": "val"}
EMOTIONS = ("neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust")
COLUMNS = ("Utterance", "Emotion", "Dialogue_ID", "Utterance_ID")
BASES = (".", "MELD.Raw", "*/MELD.Raw")
LAYOUTS = {"release": "release archive (<split>/<split>_sent_emo.csv beside <split>/<video folder>/)",
           "flat": "flat (the *_sent_emo.csv files beside the video folders)"}


def _csv_path(base: Path, split: str) -> tuple[Path, str]:
    """Where the split's CSV is (release layout first) and which layout that is; the flat path if neither exists."""
    name, _, sub = SPLITS[split]
    if (base / sub / name).is_file():
        return base / sub / name, "release"
    return base / name, "flat"


def find_base(root: str | Path) -> Path:
    """The folder holding the MELD CSVs (directly or in train/, dev/, test/): the root, MELD.Raw/ or */MELD.Raw/."""
    names = ", ".join(name for name, _, _ in SPLITS.values())
    return _find(root, lambda base: any(_csv_path(base, s)[0].is_file() for s in SPLITS),
                 f"the MELD CSVs ({names}), directly or in train/, dev/, test/")


def _find(root: str | Path, found, expected: str) -> Path:  # noqa: ANN001
    return common.find_base(root, "MELD", BASES, found, expected)


def _video_dir(root: Path, base: Path, split: str) -> tuple[Path | None, list[Path]]:
    """The split's video folder (release folder, beside the CSVs, root, MELD.Raw/) and where it looked."""
    _, folder, sub = SPLITS[split]
    candidates = list(dict.fromkeys((base / sub / folder, base / folder, root / folder, root / "MELD.Raw" / folder)))
    return next((c for c in candidates if c.is_dir()), None), candidates


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
    """A cell, stripped and read as a person would (:func:`~emoomni.data.common.clean_text`); None when empty."""
    return clean_text((row.get(col) or "").strip()) or None


def _meta(row: dict[str, str], dia: int, utt: int) -> dict[str, Any]:
    cols = {"speaker": "Speaker", "sentiment": "Sentiment", "season": "Season", "episode": "Episode",
            "start_time": "StartTime", "end_time": "EndTime"}
    return {"dialogue_id": dia, "utterance_id": utt, **{k: _text(row, c) for k, c in cols.items()},
            "audio_in_video": True}


def _index_split(root: Path, base: Path, split: str, report: SkipReport, seen: set[str]) -> tuple[list[Sample], str]:
    """Samples of one split and the layout its CSV was found in; a missing CSV or video folder is one skip entry."""
    csv_name, folder, _ = SPLITS[split]
    csv_path, layout = _csv_path(base, split)
    if not csv_path.is_file():
        report.skip(csv_path, f"missing file: {csv_path} (no {split} split)")
        return [], layout
    rows = read_csv_rows(csv_path, required=COLUMNS)
    videos, looked = _video_dir(root, base, split)
    if videos is None:
        tried = ", ".join(relpath(root, p) + "/" for p in looked)
        log.warning("MELD %s: no video folder %s/ (looked for %s); its %d rows are not indexed", split, folder, tried,
                    len(rows))
        report.skip(looked[0], f"missing folder: no {split} video folder {folder}/ (looked for {tried}); "
                               f"{len(rows)} rows of {csv_name} not indexed")
        return [], layout
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
    return samples, layout


def index(
    root: str | Path, splits: tuple[str, ...] | list[str] | str = ("train", "val", "test")
) -> tuple[list[Sample], SkipReport]:
    """Index MELD utterance clips of the chosen splits ("train", "val" = "dev", "test").

    The root may be ``MELD.Raw`` itself or a folder above it; the release archive's layout
    (``train/train_sent_emo.csv`` beside ``train/train_splits/`` ...) and the flat one (the CSVs
    beside the video folders) are both found, and ``report.layout`` says which. Clips are
    audio-visual (audio read from the video track, ``meta["audio_in_video"]``); a clip without an
    audio stream is skipped. Transcripts are the ``Utterance`` column, read as a person would: the
    original CSVs' windows-1252 C1 characters and ``â€™``-style mojibake become punctuation.
    """
    splits = [splits] if isinstance(splits, str) else list(splits)
    splits = [SPLIT_ALIASES.get(s, s) for s in splits]
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown MELD splits {sorted(unknown)}; known: {', '.join(SPLITS)} (dev is val)")
    root = Path(root)
    base = find_base(root)
    report, samples, seen, layouts = SkipReport("meld"), [], set(), {}
    for split in splits:
        found, layouts[split] = _index_split(root, base, split, report, seen)
        samples += found
    kinds = set(layouts.values())
    described = LAYOUTS[kinds.pop()] if len(kinds) == 1 else ", ".join(f"{s} {k}" for s, k in layouts.items())
    report.layout = f"MELD {described} in {common.where(root, base)}"
    report.kept = len(samples)
    log.info(report.summary())
    return samples, report
