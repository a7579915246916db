"""DFEW adapter on a small fixture tree in the release layout, with both split-folder spellings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from emoomni.data import dfew
from emoomni.data.common import DataLayoutError
from emoomni.data.manifest import validate_sample
from tests.media_fixtures import make_clip, make_corrupt

SPLITS = Path("EmoLabel_DataSplit")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("DFEW")
    clips = root / "Clip" / "original"
    make_clip(clips / "00001.mp4")
    make_clip(clips / "00002.mp4", audio=False)  # DFEW clips may be silent: kept, has_audio False
    make_clip(clips / "part_2" / "00003.avi")  # extracted archives may nest a folder
    make_corrupt(clips / "00005.mp4")
    make_clip(clips / "00006.mp4")
    # fold 1: hyphen spelling for train, underscore spelling for test; unpadded and padded names
    _write(root / SPLITS / "train(single-labeled)" / "set_1.csv", "video_name,label\n1,1\n2,7\n4,3\n5,2\n7,0\n8\n")
    _write(root / SPLITS / "test(single_labeled)" / "set_1.csv", "video_name,label\n00003,6\n6,5\n9,9\n")
    # fold 2: the <split>_set_<k>.csv file names some copies use
    _write(root / SPLITS / "train(single-labeled)" / "train_set_2.csv", "video_name,label\n2,3\n")
    _write(root / SPLITS / "test(single-labeled)" / "test_set_2.csv", "video_name,label\n1,4\n")
    # fold 4: a split CSV with the wrong header
    _write(root / SPLITS / "train(single-labeled)" / "set_4.csv", "clip_id,emotion\n1,1\n")
    _write(root / SPLITS / "test(single-labeled)" / "set_4.csv", "video_name,label\n1,1\n")
    return root


def test_fold1_counts_and_skip_reasons(root: Path) -> None:
    samples, report = dfew.index(root, fold=1)
    assert report.kept == len(samples) == 4
    assert report.counts() == Counter({"unknown label": 2, "missing file": 1, "unreadable media": 1,
                                       "malformed row": 1})
    by_reason = {}
    for file, reason in report.skipped:
        by_reason.setdefault(reason.split(":")[0], []).append((Path(file), reason))
    assert [f.relative_to(root).as_posix() for f, _ in by_reason["missing file"]] == ["Clip/original/00004.mp4"]
    assert [f.name for f, _ in by_reason["unreadable media"]] == ["00005.mp4"]
    unknown = by_reason["unknown label"]
    assert [(f.parent.name, f.name) for f, _ in unknown] == [("train(single-labeled)", "set_1.csv"),
                                                             ("test(single_labeled)", "set_1.csv")]
    assert "'0' for clip 00007" in unknown[0][1] and "'9' for clip 00009" in unknown[1][1]
    [(malformed_file, malformed)] = by_reason["malformed row"]
    assert malformed_file.parent.name == "train(single-labeled)" and "line 7: no label" in malformed


def test_fold1_samples(root: Path) -> None:
    samples, _ = dfew.index(root, fold=1)
    got = [(s.split, s.meta["clip"], s.label, s.video, s.meta["has_audio"]) for s in samples]
    assert got == [
        ("train", "00001", "happy", "Clip/original/00001.mp4", True),
        ("train", "00002", "fearful", "Clip/original/00002.mp4", False),
        ("test", "00003", "disgusted", "Clip/original/part_2/00003.avi", True),
        ("test", "00006", "surprised", "Clip/original/00006.mp4", True),
    ]
    assert len({s.id for s in samples}) == 4 and samples[0].id == "dfew-fold1-train-00001"
    for s in samples:
        assert s.dataset == "dfew" and s.audio is None and s.meta["fold"] == 1
        validate_sample(s, root, check_files=True)


def test_other_split_file_names_and_errors(root: Path) -> None:
    samples, report = dfew.index(root, fold=2)
    assert [(s.split, s.meta["clip"], s.label) for s in samples] == [("train", "00002", "neutral"),
                                                                     ("test", "00001", "angry")]
    assert report.skipped == []
    with pytest.raises(FileNotFoundError, match=r"train\(single_labeled\)/set_3.csv"):
        dfew.index(root, fold=3)
    with pytest.raises(DataLayoutError, match="expected columns video_name/clip/name, label; missing"):
        dfew.index(root, fold=4)
    with pytest.raises(ValueError, match="folds are 1-5"):
        dfew.index(root, fold=6)
    with pytest.raises(FileNotFoundError, match="clip folder"):
        dfew.index(root, clip_dir="Clip/clip_224x224")


def test_repository_split_files(tmp_path: Path) -> None:
    """jiangxingxun/DFEW's own split files: label/single_trainset_<k>.csv and single_testset_<k>.csv."""
    make_clip(tmp_path / "Clip" / "original" / "00010.mp4")
    make_clip(tmp_path / "Clip" / "original" / "00011.mp4", audio=False)
    _write(tmp_path / "label" / "single_trainset_3.csv", "video_name,label\n10,4\n12,2\n")
    _write(tmp_path / "label" / "single_testset_3.csv", "video_name,label\n11,5\n")
    samples, report = dfew.index(tmp_path, fold=3)
    assert [(s.split, s.meta["clip"], s.label) for s in samples] == [("train", "00010", "angry"),
                                                                     ("test", "00011", "surprised")]
    assert report.counts() == Counter({"missing file": 1})
    assert report.layout == ("DFEW fold 3: label/single_trainset_3.csv, label/single_testset_3.csv; "
                             "clips in Clip/original/")
    with pytest.raises(DataLayoutError, match="label/single_trainset_2.csv"):
        dfew.index(tmp_path, fold=2)
    (tmp_path / "Clip" / "original" / "00010.mp4").unlink()
    (tmp_path / "Clip" / "original" / "00011.mp4").unlink()
    (tmp_path / "Clip" / "original").rmdir()
    with pytest.raises(DataLayoutError, match="frame folders"):
        dfew.index(tmp_path, fold=3)
