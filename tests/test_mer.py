"""MER2023 / MER2025 adapter on small fixture trees in the release layouts, with the defects users hit."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from emoomni.data import mer
from emoomni.data.common import DataLayoutError
from emoomni.data.manifest import validate_sample
from tests.media_fixtures import make_clip, make_corrupt, make_wav

LABELS_2025 = """name,discrete,valence
s01,happy,2.5
s02,surprise,
s03,worried,-1
s04,sad,
s05,angry,
s06,neutral,
s07,confused,
,happy,
s01,happy,
s08,sad,
../video/s01,happy,
"""
# The subtitle file is windows-1252 with curly quotes, as spreadsheet exports of it often are.
SUBTITLES_2025 = ('name,chinese,english\ns01,ni hao,"It\u2019s \u201cfine\u201d, isn\u2019t it?"\n'
                  "s03,,I\u2019m worried.\n")


@pytest.fixture(scope="module")
def mer2025(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mer2025-dataset")
    make_clip(root / "video" / "s01.mp4")
    make_wav(root / "audio" / "s01.wav")
    make_clip(root / "video" / "s02.mp4")  # audio in the video, no wav
    make_clip(root / "video" / "s03.mp4", audio=False)  # silent video, the wav carries the audio
    make_wav(root / "audio" / "s03.wav")
    make_clip(root / "video" / "s04.mp4", audio=False)  # silent video and no wav
    make_corrupt(root / "video" / "s05.mp4")
    make_clip(root / "video" / "s08.mp4")
    make_corrupt(root / "audio" / "s08.wav")
    (root / "track1_train_disdim.csv").write_text(LABELS_2025, encoding="utf-8")
    (root / "subtitle_chieng.csv").write_bytes(SUBTITLES_2025.encode("cp1252"))
    (root / "subs_zh.csv").write_text("name,chinese,english\ns01,\u4f60\u597d,hello\n", encoding="utf-8")
    return root


def _skips(report) -> dict[str, list[tuple[str, str]]]:  # noqa: ANN001
    out: dict[str, list[tuple[str, str]]] = {}
    for file, reason in report.skipped:
        out.setdefault(reason.split(":")[0], []).append((file, reason))
    return out


def test_mer2025_counts_and_skip_reasons(mer2025: Path) -> None:
    samples, report = mer.index(mer2025, "mer2025", "train")
    assert report.kept == len(samples) == 3
    assert report.counts() == Counter(
        {"malformed row": 3, "unreadable media": 2, "no audio stream": 1, "missing file": 1, "unknown label": 1}
    )
    skips = _skips(report)
    assert [Path(f).name for f, _ in skips["no audio stream"]] == ["s04.mp4"]
    assert sorted(Path(f).name for f, _ in skips["unreadable media"]) == ["s05.mp4", "s08.wav"]
    assert [Path(f).relative_to(mer2025).as_posix() for f, _ in skips["missing file"]] == ["video/s06.mp4"]
    assert [Path(f).name for f, _ in skips["unknown label"]] == ["track1_train_disdim.csv"]
    assert "'confused'" in skips["unknown label"][0][1] and "line 8" in skips["unknown label"][0][1]
    malformed = [r for _, r in skips["malformed row"]]  # in file order
    assert "line 9" in malformed[0] and "no clip name" in malformed[0]
    assert "line 10" in malformed[1] and "listed twice" in malformed[1]
    assert "line 12" in malformed[2] and "not a plain file name" in malformed[2]
    assert {Path(f).name for f, _ in skips["malformed row"]} == {"track1_train_disdim.csv"}


def test_mer2025_samples(mer2025: Path) -> None:
    samples, _ = mer.index(mer2025, "mer2025", "train")
    by_name = {s.meta["name"]: s for s in samples}
    assert sorted(by_name) == ["s01", "s02", "s03"]
    assert {n: s.label for n, s in by_name.items()} == {"s01": "happy", "s02": "surprised", "s03": "worried"}
    assert len({s.id for s in samples}) == 3 and by_name["s01"].id == "mer2025-train-s01"
    assert (by_name["s01"].video, by_name["s01"].audio) == ("video/s01.mp4", "audio/s01.wav")
    assert (by_name["s02"].video, by_name["s02"].audio) == ("video/s02.mp4", None)
    assert (by_name["s03"].audio, by_name["s03"].meta["video_has_audio"]) == ("audio/s03.wav", False)
    assert by_name["s01"].meta["valence"] == 2.5 and "valence" not in by_name["s02"].meta
    for s in samples:
        assert s.dataset == "mer2025" and s.split == "train" and "label_set" not in s.meta
        validate_sample(s, mer2025, check_files=True)


def test_mer2025_windows_1252_subtitles(mer2025: Path) -> None:
    samples, _ = mer.index(mer2025, "mer2025", "train")
    text = {s.meta["name"]: s.transcript for s in samples}
    assert text == {"s01": "It\u2019s \u201cfine\u201d, isn\u2019t it?", "s02": None, "s03": "I\u2019m worried."}
    chinese = {s.meta["name"]: s.transcript for s in mer.index(mer2025, subtitle_lang="chinese")[0]}
    assert chinese == {"s01": "ni hao", "s02": None, "s03": None}
    override = mer.index(mer2025, subtitle_csv="subs_zh.csv", subtitle_lang="chinese")[0]
    assert {s.meta["name"]: s.transcript for s in override}["s01"] == "\u4f60\u597d"


def test_mer_file_resolution_errors(mer2025: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown MER edition"):
        mer.index(mer2025, "mer2022")
    with pytest.raises(ValueError, match="unknown mer2025 split 'dev'"):
        mer.index(mer2025, "mer2025", "dev")
    with pytest.raises(FileNotFoundError, match="track1_test_dis.csv"):
        mer.index(mer2025, "mer2025", "test")
    with pytest.raises(FileNotFoundError, match="label file"):
        mer.index(mer2025, label_csv="nope.csv")
    with pytest.raises(ValueError, match="subtitle_lang"):
        mer.index(mer2025, subtitle_lang="french")
    (tmp_path / "mine.csv").write_text("Name,Discrete\ns02,Happy\n", encoding="utf-8")
    samples, report = mer.index(mer2025, "mer2025", "dev", label_csv=tmp_path / "mine.csv")
    assert [(s.id, s.label, s.split) for s in samples] == [("mer2025-dev-s02", "happy", "dev")]
    assert report.skipped == []


def test_mer2025_candidates_are_unlabelled(mer2025: Path, tmp_path: Path) -> None:
    (tmp_path / "track_all_candidates.csv").write_text("name\ns02\n", encoding="utf-8")
    make_clip(tmp_path / "video" / "s02.mp4")
    samples, report = mer.index(tmp_path, "mer2025", "candidates", subtitle_csv=mer2025 / "subtitle_chieng.csv")
    assert report.kept == 1 and samples[0].label is None and samples[0].split == "candidates"


@pytest.fixture(scope="module")
def mer2023_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mer2023-dataset")
    make_clip(root / "train" / "sample_00000007.avi")
    make_clip(root / "train" / "sample_00000009.mp4")
    make_clip(root / "test1" / "sample_00000011.mp4")
    (root / "train-label.csv").write_text(
        "name,discrete,valence\nsample_00000007,fear,-2\nsample_00000009,neutral,0\nsample_00000010,sad,1\n",
        encoding="utf-8",
    )
    (root / "test1-label.csv").write_text("name,discrete,valence\nsample_00000011,angry,-3\n", encoding="utf-8")
    return root


def test_mer2023_release_layout(mer2023_release: Path) -> None:
    samples, report = mer.index(mer2023_release, "mer2023", "train")
    assert [(s.id, s.video, s.label) for s in samples] == [
        ("mer2023-train-sample_00000007", "train/sample_00000007.avi", "worried"),  # MER reads fear as worried
        ("mer2023-train-sample_00000009", "train/sample_00000009.mp4", "neutral"),
    ]
    assert report.counts() == Counter({"missing file": 1}) and "sample_00000010" in report.skipped[0][0]
    assert samples[0].meta["valence"] == -2.0 and samples[0].transcript is None
    test, _ = mer.index(mer2023_release, "mer2023", "test1")
    assert [(s.split, s.video, s.label) for s in test] == [("test1", "test1/sample_00000011.mp4", "angry")]
    for s in samples + test:
        validate_sample(s, mer2023_release, check_files=True)


@pytest.fixture(scope="module")
def mer2023_processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mer2023-dataset-process")
    make_clip(root / "video" / "sample_1.mp4")
    make_clip(root / "video" / "sample_2.mp4", audio=False)
    make_wav(root / "audio" / "sample_2.wav")
    np.savez_compressed(
        root / "label-6way.npz",
        train_corpus={"sample_1": {"emo": "surprise", "val": np.float64(1.5)}, "sample_3": {"emo": "happy", "val": 0}},
        test1_corpus={"sample_2": {"emo": "sad", "val": -10}},
    )
    (root / "transcription-engchi-polish.csv").write_text(
        "name,chinese,english\nsample_1,\u771f\u7684\u5417,Really?\n", encoding="utf-8"
    )
    return root


def test_mer2023_processed_npz(mer2023_processed: Path) -> None:
    train, report = mer.index(mer2023_processed, "mer2023", "train")
    assert [(s.id, s.label, s.transcript, s.meta["valence"]) for s in train] == [
        ("mer2023-train-sample_1", "surprised", "Really?", 1.5)
    ]
    assert report.counts() == Counter({"missing file": 1}) and report.skipped[0][0].endswith("sample_3.mp4")
    assert train[0].meta["label_file"] == "label-6way.npz"
    test, _ = mer.index(mer2023_processed, "mer2023", "test1", subtitle_lang="chinese")
    assert [(s.audio, s.label, s.transcript) for s in test] == [("audio/sample_2.wav", "sad", None)]
    assert "valence" not in test[0].meta  # -10 is MERTools' "no valence"
    for s in train + test:
        validate_sample(s, mer2023_processed, check_files=True)


class _Evil:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):  # noqa: ANN204
        return (os.mkdir, (str(self.target),))


def test_npz_with_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    np.savez(tmp_path / "label-6way.npz", train_corpus=np.array(_Evil(marker), dtype=object))
    with pytest.raises(ValueError, match="refusing to load"):
        mer.read_npz_corpus(tmp_path / "label-6way.npz", "train_corpus")
    assert not marker.exists()
    with pytest.raises(DataLayoutError, match="holding test2_corpus; it holds train_corpus"):
        mer.read_npz_corpus(tmp_path / "label-6way.npz", "test2_corpus")


def test_all_same_label_is_flagged(mer2025: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "filler.csv").write_text("name,discrete\ns01,neutral\ns02,neutral\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="emoomni.data.mer"):
        samples, _ = mer.index(mer2025, "mer2025", "test", label_csv=tmp_path / "filler.csv")
    assert [s.label for s in samples] == ["neutral", "neutral"]
    assert "every label is 'neutral'" in caplog.text


@pytest.fixture(scope="module")
def mer2024_parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding MERTools' MER2024 release (mer2024-dataset/) and its processed copy."""
    parent = tmp_path_factory.mktemp("mer2024")
    release = parent / "mer2024-dataset"
    make_clip(release / "video-labeled" / "sample_00000001.mp4")
    make_clip(release / "video-labeled" / "sample_00000002.mp4")
    (release / "label-disdim.csv").write_text(
        "name,discrete,valence\nsample_00000001,worried,-1.5\nsample_00000002,happy,2\nsample_00000003,sad,-2\n",
        encoding="utf-8")
    (release / "label-transcription.csv").write_text(
        "name,chinese,english\nsample_00000001,\u6211\u5f88\u62c5\u5fc3,I\u2019m worried.\n", encoding="utf-8")
    return parent


def test_mer2024_release_under_the_root(mer2024_parent: Path) -> None:
    samples, report = mer.index(mer2024_parent, "mer2024", "train")
    assert [(s.id, s.label, s.video, s.transcript) for s in samples] == [
        ("mer2024-train-sample_00000001", "worried", "mer2024-dataset/video-labeled/sample_00000001.mp4",
         "I\u2019m worried."),
        ("mer2024-train-sample_00000002", "happy", "mer2024-dataset/video-labeled/sample_00000002.mp4", None),
    ]
    assert report.counts() == Counter({"missing file": 1}) and "video-labeled" in report.skipped[0][1]
    assert report.layout == "mer2024 train: labels mer2024-dataset/label-disdim.csv in mer2024-dataset/"
    for s in samples:
        validate_sample(s, mer2024_parent, check_files=True)
    with pytest.raises(ValueError, match="unknown mer2024 split 'test1'"):
        mer.index(mer2024_parent, "mer2024", "test1")


def test_label_file_without_label_column_is_refused(mer2025: Path, tmp_path: Path) -> None:
    (tmp_path / "names.csv").write_text("name,valence\ns01,1\ns02,2\n", encoding="utf-8")
    with pytest.raises(DataLayoutError, match="missing discrete/emotion/label") as err:
        mer.index(mer2025, "mer2025", "train", label_csv=tmp_path / "names.csv")
    assert err.value.path == tmp_path / "names.csv"
    (tmp_path / "track_all_candidates.csv").write_text("name\ns02\n", encoding="utf-8")
    assert mer.index(mer2025, "mer2025", "candidates", label_csv=tmp_path / "track_all_candidates.csv")[1].kept == 1


def test_truncated_npz_names_the_file(mer2023_processed: Path, tmp_path: Path) -> None:
    data = (mer2023_processed / "label-6way.npz").read_bytes()
    (tmp_path / "label-6way.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataLayoutError, match="truncated or not a zip") as err:
        mer.index(tmp_path, "mer2023", "train")
    assert err.value.path == tmp_path / "label-6way.npz" and str(tmp_path / "label-6way.npz") in str(err.value)
