"""MELD adapter on a tiny MELD.Raw tree: windows-1252 and mojibake CSVs, missing, corrupt and silent clips."""

from __future__ import annotations

import csv
import io
import shutil
from collections import Counter
from pathlib import Path

import pytest

from emoomni.data.common import DataLayoutError
from emoomni.data.manifest import validate_sample
from emoomni.data.meld import index
from tests.media_fixtures import make_clip, make_corrupt

COLUMNS = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
           "Season", "Episode", "StartTime", "EndTime"]


def row(sr: int, text: str, emotion: str, dia: object, utt: object, speaker: str = "Joey") -> list[object]:
    sentiment = {"neutral": "neutral", "joy": "positive", "surprise": "positive"}.get(emotion, "negative")
    return [sr, text, speaker, emotion, sentiment, dia, utt, 8, 21, "00:16:16,059", "00:16:21,731"]


def write_csv(path: Path, rows: list[list[object]], encoding: str) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("meld")
    raw = root / "MELD.Raw"
    clip = make_clip(root / "clip.mp4", seconds=0.25)
    make_clip(raw / "train_splits" / "dia1_utt1.mp4", seconds=0.25, audio=False)  # silent clip
    make_corrupt(raw / "train_splits" / "dia1_utt0.mp4")
    for rel in ("MELD.Raw/train_splits/dia0_utt0", "MELD.Raw/train_splits/dia0_utt1", "MELD.Raw/train_splits/dia2_utt0",
                "dev_splits_complete/dia0_utt0",  # dev videos unpacked next to MELD.Raw, not inside it
                "MELD.Raw/output_repeated_splits_test/dia0_utt0", "MELD.Raw/output_repeated_splits_test/dia0_utt1",
                "MELD.Raw/output_repeated_splits_test/dia1_utt0"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / f"{rel}.mp4")
    clip.unlink()
    write_csv(raw / "train_sent_emo.csv", [  # windows-1252: the apostrophe is byte 0x92
        row(1, "Oh, it\u2019s you!", "joy", 0, 0),
        row(2, "\u201cOkay.\u201d", "neutral", 0, 1, speaker="Monica"),
        row(3, "Where\u2019s my clip?", "anger", 0, 2),  # dia0_utt2.mp4 missing
        row(4, "Corrupt.", "sadness", 1, 0),
        row(5, "Silent.", "fear", 1, 1),
        row(6, "I\u2019m sad.", "sadness", 2, 0),
        row(7, "Bad id.", "joy", "x", 0),
        row(8, "Confused.", "confusion", 3, 0),
    ], "cp1252")
    write_csv(raw / "dev_sent_emo.csv", [  # UTF-8 with BOM, carrying the MELD mojibake
        row(1, "You donâ€™t get it!", "anger", 0, 0),
        row(2, "You donâ€™t get it!", "anger", 0, 0),
    ], "utf-8-sig")
    write_csv(raw / "test_sent_emo.csv", [
        row(1, "What?!", "surprise", 0, 0), row(2, "Eww.", "disgust", 0, 1), row(3, "Help!", "fear", 1, 0),
    ], "utf-8")
    return root


def test_counts_skips_and_labels(root: Path) -> None:
    samples, report = index(root)
    assert report.kept == len(samples) == 7
    assert report.counts() == Counter({
        "missing file": 1, "unreadable media": 1, "no audio stream": 1,
        "malformed row": 1, "unknown label": 1, "duplicate row": 1,
    })
    by_reason = {r.split(":")[0]: (Path(f).name, r) for f, r in report.skipped}
    assert by_reason["missing file"][0] == "dia0_utt2.mp4"
    assert by_reason["unreadable media"][0] == "dia1_utt0.mp4"
    assert by_reason["no audio stream"][0] == "dia1_utt1.mp4"
    assert by_reason["malformed row"][0] == "train_sent_emo.csv" and "row 7" in by_reason["malformed row"][1]
    assert "Dialogue_ID 'x'" in by_reason["malformed row"][1]
    assert by_reason["unknown label"][0] == "train_sent_emo.csv" and "row 8" in by_reason["unknown label"][1]
    assert by_reason["duplicate row"][0] == "dev_sent_emo.csv" and "row 2" in by_reason["duplicate row"][1]
    assert {s.id: (s.split, s.label) for s in samples} == {
        "meld-train-dia0_utt0": ("train", "happy"),
        "meld-train-dia0_utt1": ("train", "neutral"),
        "meld-train-dia2_utt0": ("train", "sad"),
        "meld-val-dia0_utt0": ("val", "angry"),
        "meld-test-dia0_utt0": ("test", "surprised"),
        "meld-test-dia0_utt1": ("test", "disgusted"),
        "meld-test-dia1_utt0": ("test", "fearful"),
    }


def test_transcripts_decode(root: Path) -> None:
    assert b"\x92" in (root / "MELD.Raw/train_sent_emo.csv").read_bytes()
    by_id = {s.id: s for s in index(root)[0]}
    assert by_id["meld-train-dia0_utt0"].transcript == "Oh, it\u2019s you!"
    assert by_id["meld-train-dia0_utt1"].transcript == "\u201cOkay.\u201d"
    assert by_id["meld-val-dia0_utt0"].transcript == "You don\u2019t get it!"


def test_paths_meta_and_validity(root: Path) -> None:
    samples, _ = index(root)
    by_id = {s.id: s for s in samples}
    s = by_id["meld-train-dia0_utt1"]
    assert s.video == "MELD.Raw/train_splits/dia0_utt1.mp4" and s.audio is None
    assert by_id["meld-val-dia0_utt0"].video == "dev_splits_complete/dia0_utt0.mp4"
    assert by_id["meld-test-dia1_utt0"].video == "MELD.Raw/output_repeated_splits_test/dia1_utt0.mp4"
    assert s.meta == {
        "dialogue_id": 0, "utterance_id": 1, "speaker": "Monica", "sentiment": "neutral", "season": "8",
        "episode": "21", "start_time": "00:16:16,059", "end_time": "00:16:21,731", "audio_in_video": True,
    }
    assert len({s.id for s in samples}) == len(samples)
    for s in samples:
        validate_sample(s, root, check_files=True)


def test_splits_option_and_csvs_in_root(root: Path, tmp_path: Path) -> None:
    samples, report = index(root, splits=["test"])
    assert report.kept == 3 and {s.split for s in samples} == {"test"} and not report.skipped
    write_csv(tmp_path / "test_sent_emo.csv", [row(1, "Hi.", "joy", 5, 3)], "utf-8")
    make_clip(tmp_path / "output_repeated_splits_test" / "dia5_utt3.mp4", seconds=0.25)
    samples, report = index(tmp_path)
    assert [(s.id, s.video, s.label) for s in samples] == [
        ("meld-test-dia5_utt3", "output_repeated_splits_test/dia5_utt3.mp4", "happy")
    ]
    assert report.counts() == Counter({"missing file": 2})
    assert {Path(f).name for f, _ in report.skipped} == {"train_sent_emo.csv", "dev_sent_emo.csv"}
    validate_sample(samples[0], tmp_path, check_files=True)


def test_bad_root_and_options(root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="MELD"):
        index(tmp_path)
    with pytest.raises(ValueError, match="dev is val"):
        index(root, splits=("validation",))
    assert [s.split for s in index(root, splits="dev")[0]] == ["val"]


# A row of the original train_sent_emo.csv, before upstream re-encoded it: UTF-8 text holding the
# windows-1252 apostrophe as the C1 control character U+0092.
C1_ROW = "also I was the point person on my company\x92s transition from the KL-5 to GR-6 system."


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layout MELD.Raw.tar.gz's split archives unpack to: each split's CSV inside its own folder."""
    root = tmp_path_factory.mktemp("meld-release")
    raw = root / "MELD.Raw"
    make_clip(raw / "train" / "train_splits" / "dia0_utt0.mp4", seconds=0.25)
    for rel in ("train/train_splits/dia0_utt1", "dev/dev_splits_complete/dia0_utt0",
                "test/output_repeated_splits_test/dia0_utt0"):
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(raw / "train" / "train_splits" / "dia0_utt0.mp4", raw / f"{rel}.mp4")
    write_csv(raw / "train" / "train_sent_emo.csv", [
        row(1, C1_ROW, "neutral", 0, 0, speaker="Chandler"),
        row(2, "You must\x92ve had your hands full\x85", "surprise", 0, 1, speaker="The Interviewer"),
    ], "utf-8")
    write_csv(raw / "dev" / "dev_sent_emo.csv", [row(1, "Oh my God, you\u2019re kidding!", "joy", 0, 0)], "cp1252")
    write_csv(raw / "test" / "test_sent_emo.csv", [row(1, "\x93Hi!\x94 \x96 Hey.", "neutral", 0, 0),
                                                    row(2, "Missing clip.", "anger", 0, 1)], "utf-8")
    return root


def test_release_layout_and_c1_text(release: Path) -> None:
    assert "\x92".encode() in (release / "MELD.Raw/train/train_sent_emo.csv").read_bytes()
    samples, report = index(release)
    assert report.kept == len(samples) == 4 and report.counts() == Counter({"missing file": 1})
    assert report.layout == ("MELD release archive (<split>/<split>_sent_emo.csv beside <split>/<video folder>/) "
                             "in MELD.Raw/")
    assert "layout: MELD release archive" in report.summary()
    by_id = {s.id: s for s in samples}
    assert by_id["meld-train-dia0_utt0"].transcript.startswith("also I was the point person on my company\u2019s")
    assert by_id["meld-train-dia0_utt1"].transcript == "You must\u2019ve had your hands full\u2026"
    assert by_id["meld-train-dia0_utt1"].meta["speaker"] == "The Interviewer"
    assert by_id["meld-val-dia0_utt0"].transcript == "Oh my God, you\u2019re kidding!"
    assert by_id["meld-test-dia0_utt0"].transcript == "\u201cHi!\u201d \u2013 Hey."
    assert by_id["meld-val-dia0_utt0"].video == "MELD.Raw/dev/dev_splits_complete/dia0_utt0.mp4"
    assert {s.label for s in samples} == {"neutral", "surprised", "happy"}
    for s in samples:
        assert not any(0x80 <= ord(c) < 0xA0 for c in s.to_json()), s.id
        validate_sample(s, release, check_files=True)
    inside, _ = index(release / "MELD.Raw", splits=["val"])
    assert [s.video for s in inside] == ["dev/dev_splits_complete/dia0_utt0.mp4"]


def test_missing_video_folder_is_one_entry(release: Path, tmp_path: Path) -> None:
    shutil.copytree(release / "MELD.Raw" / "test", tmp_path / "MELD.Raw" / "test")
    write_csv(tmp_path / "MELD.Raw" / "train" / "train_sent_emo.csv",
              [row(i, "Hi.", "joy", 0, i) for i in range(30)], "utf-8")
    samples, report = index(tmp_path, splits=["train", "test"])
    assert [s.id for s in samples] == ["meld-test-dia0_utt0"]
    assert report.counts() == Counter({"missing folder": 1, "missing file": 1})
    folder = next(r for _, r in report.skipped if r.startswith("missing folder"))
    assert "train_splits/" in folder and "30 rows" in folder


def test_missing_column_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "MELD.Raw" / "test" / "test_sent_emo.csv"
    path.parent.mkdir(parents=True)
    path.write_text("Sr No.,Utterance,Speaker,Sentiment,Dialogue_ID,Utterance_ID\n"
                    + "".join(f"{i},Hi.,Joey,neutral,0,{i}\n" for i in range(50)), encoding="utf-8")
    with pytest.raises(DataLayoutError, match="missing Emotion") as err:
        index(tmp_path, splits=["test"])
    assert err.value.path == path
