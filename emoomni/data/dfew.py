"""DFEW adapter: index one cross-validation fold of a local DFEW copy into Samples and a skip report.

Layout supported (checked against the DFEW release README, which lists ``Clip/original`` with clips
named ``XXXXX.mp4``, ``EmoLabel_DataSplit/train(single_labeled).zip`` / ``test(single_labeled).zip``
holding ``set_1.csv`` .. ``set_5.csv``, label codes 1 Happy, 2 Sad, 3 Neutral, 4 Angry, 5 Surprise,
6 Disgust, 7 Fear and 0 for "not single-labeled"; and against public training code, which reads
``EmoLabel_DataSplit/train(single-labeled)/set_<k>.csv`` with columns ``video_name,label`` and
formats ``video_name`` as ``f"{v:05d}"``, i.e. unpadded integers in the CSV)::

    <root>/Clip/original/00001.mp4            (or .avi; sub-folders such as part_1/ are searched too)
    <root>/EmoLabel_DataSplit/train(single-labeled)/set_1.csv   (or train(single_labeled)/, set_1.csv
    <root>/EmoLabel_DataSplit/test(single-labeled)/set_1.csv     or train_set_1.csv inside it)
    <root>/label/single_trainset_1.csv, <root>/label/single_testset_1.csv  (the split files of the
                                         jiangxingxun/DFEW repository; also directly in the root or
                                         in EmoLabel_DataSplit/)

``video_name`` may be unpadded (``1``) or padded (``00001``, ``00001.mp4``); both find ``00001.mp4``.
Codes outside 1-7 (including 0) are skipped as "unknown label". DFEW clips are kept without an audio
stream (many are silent); ``meta["has_audio"]`` says which have one. The released ``clip_224x224``
frame folders are not indexed: the omni-modal model needs the original clips with their audio.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoomni.progress import tqdm

from emoomni.data import common
from emoomni.data.common import DataLayoutError, check_media, read_csv_rows, relpath
from emoomni.data.manifest import Sample, SkipReport
from emoomni.labels import LABEL_SETS

log = logging.getLogger(__name__)

CODES = {1: "happy", 2: "sad", 3: "neutral", 4: "angry", 5: "surprise", 6: "disgust", 7: "fear"}
SPLIT_DIRS = ("{split}(single-labeled)", "{split}(single_labeled)")
SPLIT_FILES = ("set_{fold}.csv", "{split}_set_{fold}.csv")
REPO_SPLIT_DIRS = ("label", ".", "EmoLabel_DataSplit")  # where the repository's single_<split>set_<k>.csv may be
REPO_SPLIT_FILE = "single_{split}set_{fold}.csv"
NAME_COLUMNS = ("video_name", "clip", "name")
CLIP_SUFFIXES = (".mp4", ".avi")


def index(root: str | Path, fold: int = 1, *, clip_dir: str = "Clip/original",
          split_dir: str | None = None) -> tuple[list[Sample], SkipReport]:
    """Index the train and test clips of one DFEW fold (1-5); defects go to the skip report.

    The split CSVs are looked for under ``split_dir`` when given, else in the release's
    ``EmoLabel_DataSplit/`` and in the repository's ``label/``; ``report.layout`` says which was found.
    """
    root = common.check_root(root, "DFEW")
    if fold not in range(1, 6):
        raise ValueError(f"DFEW folds are 1-5, not {fold!r}")
    csvs = {split: find_split_csv(root, split, fold, split_dir) for split in ("train", "test")}
    ctx = _Fold(root, root / clip_dir, fold, clip_table(root / clip_dir))
    report, samples = SkipReport("dfew"), []
    report.layout = (f"DFEW fold {fold}: " + ", ".join(relpath(root, p) for p in csvs.values())
                     + f"; clips in {clip_dir}/")
    for split, path in csvs.items():
        samples += _index_split(ctx, path, split, report)
    clips_in = {split: {s.meta["clip"] for s in samples if s.split == split} for split in ("train", "test")}
    if both := clips_in["train"] & clips_in["test"]:
        log.warning("dfew fold %d: %d clips are in both train and test (e.g. %s)", fold, len(both), min(both))
    report.kept = len(samples)
    log.info("%s", report.summary())
    return samples, report


def find_split_csv(root: Path, split: str, fold: int, split_dir: str | None = None) -> Path:
    """The split CSV of one fold: the release's folder spellings, then the repository's ``single_<split>set_<k>``."""
    candidates = [f"{split_dir or 'EmoLabel_DataSplit'}/{folder}/{name}".format(split=split, fold=fold)
                  for folder in SPLIT_DIRS for name in SPLIT_FILES]
    repo_dirs = (split_dir,) if split_dir else REPO_SPLIT_DIRS
    candidates += [f"{d}/{REPO_SPLIT_FILE}".format(split=split, fold=fold) for d in repo_dirs]
    for rel in candidates:
        if (root / rel).is_file():
            return root / rel
    tried = ", ".join(str(Path(rel)) for rel in candidates)
    raise DataLayoutError(root, f"expected the DFEW {split} split of fold {fold}; looked for {tried}")


def clip_key(video_name: str) -> str:
    """The zero-padded clip stem a split-CSV ``video_name`` refers to.

    >>> clip_key("1"), clip_key("00001"), clip_key(" 12 "), clip_key("00042.mp4"), clip_key("clip_a")
    ('00001', '00001', '00012', '00042', 'clip_a')
    """
    stem = video_name.strip()
    stem = stem.rsplit(".", 1)[0] if stem.lower().endswith(CLIP_SUFFIXES) else stem
    return f"{int(stem):05d}" if stem.isdigit() else stem


def dfew_label(cell: str) -> str | None:
    """The canonical label of a split-CSV label cell (code 1-7, or an emotion word), else None.

    >>> dfew_label("1"), dfew_label("7"), dfew_label(" 6 "), dfew_label("Surprise"), dfew_label("0"), dfew_label("8")
    ('happy', 'fearful', 'disgusted', 'surprised', None, None)
    """
    cell = cell.strip()
    word = CODES.get(int(cell)) if cell.isdigit() else cell
    return LABEL_SETS["dfew"].canonical(word) if word else None


def clip_table(clip_root: Path) -> dict[str, Path]:
    """Map clip keys to files under the clip folder (searched recursively; .mp4 wins over .avi)."""
    if not clip_root.is_dir():
        raise DataLayoutError(clip_root, "expected the DFEW clip folder (Clip/original/00001.mp4 ...); "
                                         "frame folders (data/00001/, clip_224x224/) are not indexed")
    table: dict[str, Path] = {}
    for path in sorted(clip_root.rglob("*")):
        if path.suffix.lower() not in CLIP_SUFFIXES or not path.is_file():
            continue
        key = clip_key(path.stem)
        if key in table and table[key].suffix.lower() == ".mp4":
            log.debug("dfew: %s shadowed by %s", path, table[key])
            continue
        table[key] = path
    return table


@dataclass(frozen=True)
class _Fold:
    """What both splits of a fold share: the data root, the clip folder and its clips."""

    root: Path
    clip_root: Path
    fold: int
    clips: dict[str, Path]


def _index_split(ctx: _Fold, csv_path: Path, split: str, report: SkipReport) -> list[Sample]:
    """Samples of one split CSV; rows that cannot be used are recorded in the report."""
    rows = read_csv_rows(csv_path, required=(NAME_COLUMNS, "label"))
    samples, seen = [], set()
    for line, row in enumerate(tqdm(rows, desc=f"dfew fold {ctx.fold} {split}", unit="clip", leave=False), start=2):
        row = {k.lower() if isinstance(k, str) else k: v for k, v in row.items()}
        sample = _sample(ctx, csv_path, split, f"line {line}", row, report, seen)
        if sample is not None:
            samples.append(sample)
    return samples


def _sample(ctx: _Fold, csv_path: Path, split: str, where: str, row: dict[Any, Any], report: SkipReport,
            seen: set[str]) -> Sample | None:
    """One Sample from a split-CSV row, or None after recording the defect in the report."""
    name = next((row[c].strip() for c in NAME_COLUMNS if isinstance(row.get(c), str) and row[c].strip()), None)
    cell = (row.get("label") or "").strip() if isinstance(row.get("label"), str) else ""
    if row.get(None) or not name or not cell:
        what = "extra fields" if row.get(None) else "no video_name" if not name else "no label"
        report.skip(csv_path, f"malformed row: {where}: {what}")
        return None
    key = clip_key(name)
    if key in seen:
        report.skip(csv_path, f"malformed row: {where}: clip {key} listed twice")
        return None
    seen.add(key)
    label = dfew_label(cell)
    if label is None:
        report.skip(csv_path, f"unknown label: {where}: {cell!r} for clip {key} (codes are 1-7)")
        return None
    path = ctx.clips.get(key)
    if path is None:
        report.skip(ctx.clip_root / f"{key}.mp4", f"missing file: clip {key} ({csv_path.name}, {where})")
        return None
    info = check_media(path, report)
    if info is None:
        return None
    return Sample(
        id=f"dfew-fold{ctx.fold}-{split}-{key}",
        dataset="dfew",
        split=split,
        video=relpath(ctx.root, path),
        label=label,
        meta={"fold": ctx.fold, "clip": key, "has_audio": info.has_audio, "label_code": cell},
    )
