"""MER2023, MER2024 and MER2025 adapter: index a local copy of the challenge data into Samples and a skip report.

Layouts supported (checked against the organisers' code in zeroQiaoba/MERTools and the MER2025
Hugging Face card ``MERChallenge/MER2025``):

- **MER2025 release** (``mer2025-dataset/``): ``video/<name>.mp4``, ``audio/<name>.wav``,
  ``subtitle_chieng.csv`` (columns ``name, chinese, english``) and the track-1 label files
  ``track1_train_disdim.csv`` (``name, discrete, valence``; split ``train``), ``track1_test_dis.csv``
  (``name, discrete``; split ``test``, read by MERTools' ``preprocess/mer2025.py`` when the test
  labels are held) and ``track_all_candidates.csv`` (``name`` only; split ``candidates``, label None).
  MERTools' processed copy (``track1_subtitle_chieng.csv``, ``track1_label_6way.npz``) works for train;
  its ``test1_corpus`` is all ``neutral`` when built without test labels, so it is not a test candidate.
- **MER2023 release** (``mer2023-dataset/``): videos in ``train/``, ``test1/``, ``test2/``, ``test3/``
  with ``<split>-label.csv`` (``name, discrete, valence``; the first baseline read
  ``utterance_id, emotion``, also accepted). **MER2023 processed** (``mer2023-dataset-process/``):
  ``video/``, ``audio/``, ``label-6way.npz`` (``<split>_corpus`` dicts ``{name: {"emo", "val"}}``) and
  ``transcription-engchi-polish.csv`` (``name, chinese, english``).
- **MER2024 release** (``mer2024-dataset/``, read by MERTools' ``MER2024/toolkit/preprocess/mer2024.py``):
  ``video-labeled/<name>.mp4`` with ``label-disdim.csv`` (``name, discrete, ...``; split ``train``) and
  ``label-transcription.csv`` (``name, chinese, ...``). **MER2024 processed** (``mer2024-dataset-process/``):
  ``video/``, ``audio/``, ``label-6way.npz`` and ``transcription-merge.csv`` (``name, sentence``). Its
  ``test1_corpus`` is all ``neutral`` filler (the test labels were held), so only ``train`` is listed.

The root may be the data set's folder or the folder holding ``<edition>-dataset/`` or
``<edition>-dataset-process/``; ``report.layout`` says which label file was read. A label file without
a label column is refused (only the ``candidates`` split is unlabelled).

The exact release file names were read from code, not from the gated data, so each split has a
list of candidates (``LABEL_FILES``) and ``label_csv=`` / ``subtitle_csv=`` override them.
``.npz`` label files are read without running pickle code: only numpy's array and dtype
constructors are allowed, anything else is refused. Videos are ``video/<name>`` or ``<split>/<name>``
with suffix ``.mp4`` or ``.avi``. MER clips are audio-visual: a video without an audio stream is
kept only when ``audio/<name>.wav`` exists. Valence ``-10`` is MERTools' "no valence" and is dropped.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from emoomni.progress import tqdm

from emoomni.data import common
from emoomni.data.common import DataLayoutError, check_media, read_csv_rows, relpath
from emoomni.data.manifest import Sample, SkipReport
from emoomni.labels import LABEL_SETS

log = logging.getLogger(__name__)

EDITIONS = ("mer2023", "mer2024", "mer2025")
LABEL_FILES: dict[str, dict[str, tuple[str, ...]]] = {  # split -> candidate label files, first found wins
    "mer2024": {"train": ("label-disdim.csv", "label-6way.npz")},  # its test1_corpus is all-neutral filler
    "mer2025": {"train": ("track1_train_disdim.csv", "track1_label_6way.npz"),
                "test": ("track1_test_dis.csv",),  # the processed npz's test1_corpus may be all-neutral filler
                "candidates": ("track_all_candidates.csv",)},
    "mer2023": {s: (f"{s}-label.csv", "label-6way.npz") for s in ("train", "test1", "test2", "test3")},
}
NPZ_KEYS = {"train": "train_corpus", "test": "test1_corpus"}  # otherwise "<split>_corpus"
SUBTITLE_FILES = {"mer2025": ("subtitle_chieng.csv", "track1_subtitle_chieng.csv"),
                  "mer2024": ("label-transcription.csv", "transcription-merge.csv"),
                  "mer2023": ("transcription-engchi-polish.csv", "transcription.csv")}
NAME_COLUMNS = ("name", "utterance_id")
LABEL_COLUMNS = ("discrete", "emotion", "label")
TEXT_COLUMNS = {"english": ("english",), "chinese": ("chinese", "sentence")}
VIDEO_SUFFIXES = (".mp4", ".avi")
VIDEO_DIRS = {"mer2024": ("video", "video-labeled")}  # otherwise video/ and <split>/
UNLABELLED_SPLITS = ("candidates",)


def index(root: str | Path, edition: str = "mer2025", split: str = "train", *, label_csv: str | Path | None = None,
          subtitle_csv: str | Path | None = None, subtitle_lang: str = "english") -> tuple[list[Sample], SkipReport]:
    """Index one split of a local MER2023 / MER2024 / MER2025 copy; defects go to the skip report."""
    if edition not in EDITIONS:
        raise ValueError(f"unknown MER edition {edition!r}; known: {', '.join(EDITIONS)}")
    if subtitle_lang not in TEXT_COLUMNS:
        raise ValueError(f"subtitle_lang must be one of {sorted(TEXT_COLUMNS)}, not {subtitle_lang!r}")
    root = common.check_root(root, edition.upper())
    base = root if label_csv is not None else find_base(root, edition, split)
    label_path = find_label_file(base, edition, split, label_csv)
    subtitles = _override(root, subtitle_csv, "subtitle") if subtitle_csv is not None else None
    ctx = _Context(root, edition, split, label_path, read_subtitles(base, edition, subtitles, subtitle_lang), base)
    report, samples = SkipReport(edition), []
    report.layout = f"{edition} {split}: labels {common.shown(root, label_path)} in {common.where(root, base)}"
    for where, row in tqdm(_label_rows(ctx.label_path, split), desc=f"{edition} {split}", unit="clip", leave=False):
        sample = _sample(ctx, where, row, report)
        if sample is not None:
            samples.append(sample)
    report.kept = len(samples)
    if len(samples) > 1 and len(labels := {s.label for s in samples}) == 1:
        log.warning("%s %s: every label is %r; placeholder labels (MERTools fills unlabelled tests with neutral)?",
                    edition, split, labels.pop())
    missing_text = sum(s.transcript is None for s in samples)
    if missing_text:
        log.warning("%s %s: %d of %d kept clips have no %s subtitle", edition, split, missing_text, len(samples),
                    subtitle_lang)
    log.info("%s", report.summary())
    return samples, report


def find_base(root: Path, edition: str, split: str) -> Path:
    """The folder holding the edition's label files: the root, ``<edition>-dataset[-process]/``."""
    table = LABEL_FILES[edition]
    if split not in table:
        raise ValueError(f"unknown {edition} split {split!r}; known: {', '.join(table)} (or pass label_csv=)")
    return common.find_base(root, edition.upper(), (".", f"{edition}-dataset", f"{edition}-dataset-process"),
                            lambda base: any((base / n).is_file() for n in table[split]),
                            f"a {edition} {split} label file ({', '.join(table[split])})")


def find_label_file(root: Path, edition: str, split: str, override: str | Path | None = None) -> Path:
    """The label file for a split: the override if given, else the first candidate that exists."""
    if override is not None:
        return _override(root, override, "label")
    table = LABEL_FILES[edition]
    if split not in table:
        raise ValueError(f"unknown {edition} split {split!r}; known: {', '.join(table)} (or pass label_csv=)")
    for name in table[split]:
        if (root / name).is_file():
            return root / name
    tried = ", ".join(table[split])
    raise DataLayoutError(root, f"expected a {edition} {split} label file ({tried}); or pass label_csv=")


def read_subtitles(root: Path, edition: str, override: str | Path | None, lang: str) -> dict[str, str]:
    """Clip name -> subtitle text in one language; empty when the release has no subtitle file."""
    if override is not None:
        path = _override(root, override, "subtitle")
    else:
        path = next((root / n for n in SUBTITLE_FILES[edition] if (root / n).is_file()), None)
        if path is None:
            tried = ", ".join(SUBTITLE_FILES[edition])
            log.warning("%s: no subtitle file (%s) in %s; transcripts are None", edition, tried, root)
            return {}
    rows = read_csv_rows(path)
    if rows and not any(c in _lower_keys(rows[0]) for c in TEXT_COLUMNS[lang]):
        log.warning("%s has no %s column (%s); transcripts are None", path, lang, "/".join(TEXT_COLUMNS[lang]))
    texts = {}
    for row in map(_lower_keys, rows):
        name, text = _pick(row, NAME_COLUMNS), _pick(row, TEXT_COLUMNS[lang])
        if name and text:
            texts[name] = text
    return texts


def valence(raw: Any) -> float | None:
    """Parse a valence cell; empty, unparseable and MERTools' ``-10`` placeholder give None.

    >>> valence("1.25"), valence(""), valence("-10"), valence("n/a")
    (1.25, None, None, None)
    """
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return None if value == -10 or value != value else value


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy object arrays of plain data; refuses every other global (no code runs)."""

    ALLOWED = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")}
    ALLOWED |= {("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a label file")
        return super().find_class(module, name)


def read_npz_corpus(path: str | Path, key: str) -> dict[str, Any]:
    """Read one ``<key>`` dict from a MERTools ``label-6way.npz`` without executing pickle code.

    A missing, truncated or foreign file, or one without ``key``, raises DataLayoutError naming it.
    """
    expected = f"expected a MERTools label .npz (a zip of .npy arrays) holding {key}"
    try:
        with zipfile.ZipFile(path) as zf:
            if f"{key}.npy" not in zf.namelist():
                keys = ", ".join(sorted(n.removesuffix(".npy") for n in zf.namelist())) or "nothing"
                raise DataLayoutError(path, f"{expected}; it holds {keys}")
            with zf.open(f"{key}.npy") as fh:
                fmt = np.lib.format
                magic = fmt.read_magic(fh)
                _, _, dtype = (fmt.read_array_header_1_0 if magic == (1, 0) else fmt.read_array_header_2_0)(fh)
                if not dtype.hasobject:
                    raise ValueError(f"{path}: {key} is a {dtype} array, not a dict of labels")
                try:
                    value = _ArrayOnlyUnpickler(fh).load()
                except pickle.UnpicklingError as e:
                    raise ValueError(f"{path}: {e}") from None
    except DataLayoutError:
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DataLayoutError(path, f"{expected}; it is truncated or not a zip ({e})") from None
    except FileNotFoundError:
        raise DataLayoutError(path, f"{expected}; no such file") from None
    corpus = value.item() if isinstance(value, np.ndarray) else value
    if not isinstance(corpus, dict):
        raise ValueError(f"{path}: {key} holds {type(corpus).__name__}, not a dict")
    return corpus


def _label_rows(path: Path, split: str) -> list[tuple[str, dict[str, Any]]]:
    """(location, row) pairs of a label CSV or npz; a CSV needs a name column and, but for candidates, a label one."""
    if path.suffix == ".npz":
        corpus = read_npz_corpus(path, NPZ_KEYS.get(split, f"{split}_corpus"))
        rows = []
        for name, value in corpus.items():
            value = value if isinstance(value, dict) else {"emo": value}
            row = {"name": str(name), "discrete": str(value.get("emo") or ""), "valence": value.get("val")}
            rows.append((f"entry {name!r}", row))
        return rows
    required = (NAME_COLUMNS,) if split in UNLABELLED_SPLITS else (NAME_COLUMNS, LABEL_COLUMNS)
    return [(f"line {i}", _lower_keys(row)) for i, row in enumerate(read_csv_rows(path, required), start=2)]


def _override(root: Path, override: str | Path, what: str) -> Path:
    path = Path(override) if Path(override).is_absolute() else root / override
    if not path.is_file():
        raise DataLayoutError(path, f"{what} file not found")
    return path


def _lower_keys(row: dict[Any, Any]) -> dict[Any, Any]:
    return {k.lower() if isinstance(k, str) else k: v for k, v in row.items()}


def _pick(row: dict[Any, Any], columns: tuple[str, ...]) -> str | None:
    for column in columns:
        value = row.get(column)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _find_video(root: Path, name: str, split: str, edition: str = "") -> Path | None:
    for folder in VIDEO_DIRS.get(edition, ("video", split)):
        for suffix in VIDEO_SUFFIXES:
            if (root / folder / f"{name}{suffix}").is_file():
                return root / folder / f"{name}{suffix}"
    return None


@dataclass
class _Context:
    """What every row of one split shares: where the data is, which edition and split, the subtitles."""

    root: Path
    edition: str
    split: str
    label_path: Path
    texts: dict[str, str]
    base: Path | None = None  # where the layout was found (root, or <edition>-dataset/ under it)
    seen: set[str] = field(default_factory=set)


def _check_row(ctx: _Context, where: str, row: dict[Any, Any], report: SkipReport) -> tuple[str, str | None] | None:
    """Check one label row: (clip name, canonical label or None) if usable, else record why not."""
    name, raw = _pick(row, NAME_COLUMNS), _pick(row, LABEL_COLUMNS)
    if row.get(None) or not name:
        problem = f"malformed row: {where}: {'extra fields' if row.get(None) else 'no clip name'}"
    elif Path(name).name != name or name in (".", ".."):
        problem = f"malformed row: {where}: clip name {name!r} is not a plain file name"
    elif any(c in row for c in LABEL_COLUMNS) and raw is None:
        problem = f"malformed row: {where}: clip {name!r} has no label"
    elif name in ctx.seen:
        problem = f"malformed row: {where}: clip {name!r} listed twice"
    else:
        ctx.seen.add(name)
        label = LABEL_SETS[ctx.edition].canonical(raw) if raw else None
        if not raw or label is not None:
            return name, label
        problem = f"unknown label: {where}: {raw!r} for clip {name!r} is not in {ctx.edition}"
    report.skip(ctx.label_path, problem)
    return None


def _sample(ctx: _Context, where: str, row: dict[Any, Any], report: SkipReport) -> Sample | None:
    """One Sample from a label row, or None after recording the defect in the report."""
    checked = _check_row(ctx, where, row, report)
    if checked is None:
        return None
    (name, label), root, split = checked, ctx.root, ctx.split
    base = ctx.base or root
    video = _find_video(base, name, split, ctx.edition)
    if video is None:
        folders = VIDEO_DIRS.get(ctx.edition, ("video", split))
        report.skip(base / folders[0] / f"{name}.mp4",
                    f"missing file: no {folders[0]}/{name}.mp4 (or .avi, or under {'/, '.join(folders[1:])}/)")
        return None
    info = check_media(video, report)
    if info is None:
        return None
    wav = base / "audio" / f"{name}.wav"
    if wav.is_file():
        if check_media(wav, report) is None:
            return None
    elif not info.has_audio:
        report.skip(video, f"no audio stream: {video} has no audio track and audio/{name}.wav is missing")
        return None
    meta = {"name": name, "label_file": ctx.label_path.name, "video_has_audio": info.has_audio}
    if (v := valence(row.get("valence"))) is not None:
        meta["valence"] = v
    return Sample(
        id=f"{ctx.edition}-{split}-{name}",
        dataset=ctx.edition,
        split=split,
        video=relpath(root, video),
        audio=relpath(root, wav) if wav.is_file() else None,
        transcript=ctx.texts.get(name),
        label=label,
        meta=meta,
    )
