"""IEMOCAP adapter on a tiny Session1/Session5 tree in the real release layout, with its usual defects."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from emoomni.data.common import DataLayoutError
from emoomni.data.iemocap import index
from emoomni.data.manifest import validate_sample
from tests.media_fixtures import make_clip, make_corrupt, make_wav

HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
ANNOTATORS = "C-E2:\tNeutral;\t()\nC-F1:\tNeutral;\t(curious)\nA-E3:\tval 3; act 2; dom  2;\t()\n\n"


def label(start: float, end: float, turn: str, code: str, vad: str = "2.5000, 2.5000, 2.5000") -> str:
    return f"[{start:.4f} - {end:.4f}]\t{turn}\t{code}\t[{vad}]\n" + ANNOTATORS


def write_dialog(session: Path, dialog: str, lines: list[str], wavs: list[str], transcript: str | None = None) -> None:
    evaluation = session / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
    evaluation.parent.mkdir(parents=True, exist_ok=True)
    evaluation.write_text(HEADER + "".join(lines))
    for turn in wavs:
        make_wav(session / "sentences" / "wav" / dialog / f"{turn}.wav", seconds=0.1)
    if transcript is not None:
        t = session / "dialog" / "transcriptions" / f"{dialog}.txt"
        t.parent.mkdir(parents=True, exist_ok=True)
        t.write_text(transcript)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("IEMOCAP_full_release")
    s1, s5 = root / "Session1", root / "Session5"
    d = "Ses01F_impro01"
    write_dialog(
        s1, d,
        [
            label(6.2901, 8.2357, f"{d}_F000", "neu", "2.5000, 3.0000, 3.5000"),
            label(8.5, 10.0, f"{d}_M000", "exc"),
            label(10.5, 11.0, f"{d}_F001", "fru"),
            label(11.5, 12.0, f"{d}_M001", "xxx"),
            label(12.5, 13.0, f"{d}_F002", "ang"),  # its wav is missing
            f"[13.5000 - 14.0000]\t{d}_F003\tsad\t[2.5000, 2.5000]\n" + ANNOTATORS,  # broken line (line 28)
            label(14.5, 15.0, f"{d}_F004", "sad"),  # its wav is corrupt
        ],
        wavs=[f"{d}_F000", f"{d}_M000", f"{d}_F001", f"{d}_M001", f"{d}_F003"],
        transcript=f"{d}_F000 [006.2901-008.2357]: Excuse me.\n{d}_M000 [008.5000-010.0000]: Do you have your forms?\n"
        "M: [BREATHING]\nSes01F_impro01_MXX0 [garbage\n",
    )
    make_corrupt(s1 / "sentences" / "wav" / d / f"{d}_F004.wav")
    make_clip(s1 / "dialog" / "avi" / "DivX" / f"{d}.avi", seconds=0.25)
    write_dialog(s1, "Ses01M_script01_1", [label(1.0, 2.0, "Ses01M_script01_1_F000", "hap")],
                 wavs=["Ses01M_script01_1_F000"])  # no transcription file, no avi
    d5 = "Ses05F_impro02"
    write_dialog(
        s5, d5,
        [
            label(1.0, 2.0, f"{d5}_F000", "sad"),
            label(2.0, 3.0, f"{d5}_M000", "fea"),
            label(3.0, 4.0, f"{d5}_M001", "sur"),
            label(4.0, 5.0, f"{d5}_M002", "zzz"),  # not an IEMOCAP code
        ],
        wavs=[f"{d5}_F000", f"{d5}_M000", f"{d5}_M001", f"{d5}_M002"],
        transcript=f"{d5}_F000 [001.0000-002.0000]: I'm so sorry.\n",
    )
    make_corrupt(s5 / "dialog" / "avi" / "DivX" / f"{d5}.avi")
    (s5 / "dialog" / "EmoEvaluation" / "Categorical").mkdir()  # real release has subfolders; not label files
    (s5 / "dialog" / "EmoEvaluation" / "Categorical" / f"{d5}_e1_cat.txt").write_text(f"{d5}_F000 :Sadness; ()\n")
    return root


def ids(samples) -> dict[str, str]:
    return {s.id.removeprefix("iemocap-"): s.label for s in samples}


def test_iemocap4_counts_labels_and_skips(root: Path) -> None:
    samples, report = index(root)
    assert report.kept == len(samples) == 4
    assert ids(samples) == {
        "Ses01F_impro01_F000": "neutral", "Ses01F_impro01_M000": "happy",
        "Ses01M_script01_1_F000": "happy", "Ses05F_impro02_F000": "sad",
    }
    assert report.counts() == Counter(
        {"missing file": 1, "unparseable label line": 1, "unreadable media": 1, "unknown label": 1}
    )
    skipped = {r.split(":")[0]: (Path(f).name, r) for f, r in report.skipped}
    assert skipped["missing file"][0] == "Ses01F_impro01_F002.wav"
    assert skipped["unreadable media"][0] == "Ses01F_impro01_F004.wav"
    assert skipped["unparseable label line"][0] == "Ses01F_impro01.txt"
    assert "Ses01F_impro01.txt:28:" in skipped["unparseable label line"][1]
    broken = (root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt").read_text().splitlines()[27]
    assert "Ses01F_impro01_F003" in broken
    assert skipped["unknown label"][0] == "Ses05F_impro02.txt" and "'zzz'" in skipped["unknown label"][1]
    assert report.excluded == Counter({
        "label fru outside iemocap4": 1, "label xxx outside iemocap4": 1,
        "label fea outside iemocap4": 1, "label sur outside iemocap4": 1,
    })


@pytest.mark.parametrize(
    "protocol, expected, excluded",
    [
        ("iemocap6", {"Ses01F_impro01_F000": "neutral", "Ses01F_impro01_M000": "excited",
                      "Ses01F_impro01_F001": "frustrated", "Ses01M_script01_1_F000": "happy",
                      "Ses05F_impro02_F000": "sad"}, ("xxx", "fea", "sur")),
        ("iemocap_paper", {"Ses01F_impro01_F000": "neutral", "Ses01M_script01_1_F000": "happy",
                           "Ses05F_impro02_F000": "sad", "Ses05F_impro02_M000": "fearful",
                           "Ses05F_impro02_M001": "surprised"}, ("exc", "fru", "xxx")),
    ],
)
def test_other_protocols(root: Path, protocol: str, expected: dict[str, str], excluded: tuple[str, ...]) -> None:
    samples, report = index(root, protocol=protocol)
    assert ids(samples) == expected and report.kept == len(expected)
    assert all(s.meta["label_set"] == protocol for s in samples)
    assert report.excluded == Counter({f"label {code} outside {protocol}": 1 for code in excluded})
    assert report.counts()["missing file"] == 1 and report.counts()["unreadable media"] == 1
    for s in samples:
        validate_sample(s, root, check_files=True)


def test_media_transcripts_and_meta(root: Path) -> None:
    by_id = {s.id.removeprefix("iemocap-"): s for s in index(root)[0]}
    f0 = by_id["Ses01F_impro01_F000"]
    assert f0.audio == "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
    assert f0.video == "Session1/dialog/avi/DivX/Ses01F_impro01.avi"
    assert f0.transcript == "Excuse me." and by_id["Ses01F_impro01_M000"].transcript == "Do you have your forms?"
    assert f0.meta == {
        "label_set": "iemocap4", "session": 1, "dialog": "Ses01F_impro01", "speaker": "Ses01F", "gender": "female",
        "code": "neu", "valence": 2.5, "activation": 3.0, "dominance": 3.5,
        "video_segment": [6.2901, 8.2357], "video_side": "left",
    }
    assert by_id["Ses01F_impro01_M000"].meta["video_side"] == "right"
    assert by_id["Ses01F_impro01_M000"].meta["code"] == "exc"
    script = by_id["Ses01M_script01_1_F000"]
    assert script.video is None and script.transcript is None and "missing file" in script.meta["video_missing"]
    assert script.meta["video_side"] == "right"  # F speaks in an M-marker session
    s5 = by_id["Ses05F_impro02_F000"]
    assert s5.video is None and "unreadable media" in s5.meta["video_missing"]
    assert s5.transcript == "I'm so sorry."


def test_marker_side_option(root: Path) -> None:
    sides = {s.id: s.meta["video_side"] for s in index(root, marker_side="right")[0]}
    assert sides["iemocap-Ses01F_impro01_F000"] == "right" and sides["iemocap-Ses01F_impro01_M000"] == "left"


def test_session_folds_and_validity(root: Path) -> None:
    for test_session in (5, 1):
        samples, _ = index(root, protocol="iemocap_paper", test_session=test_session)
        sessions = {split: {s.meta["session"] for s in samples if s.split == split} for split in ("train", "test")}
        assert sessions == {"test": {test_session}, "train": {1, 5} - {test_session}}
        assert len({s.id for s in samples}) == len(samples)
        for s in samples:
            validate_sample(s, root, check_files=True)


def test_bad_options(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="protocol"):
        index(root, protocol="iemocap8")
    with pytest.raises(ValueError, match="marker_side"):
        index(root, marker_side="top")
    with pytest.raises(ValueError, match="Session3"):
        index(root, test_session=3)
    with pytest.raises(FileNotFoundError, match="Session"):
        index(tmp_path)


def test_release_folder_under_the_root(root: Path, tmp_path: Path) -> None:
    (tmp_path / "IEMOCAP_full_release").symlink_to(root, target_is_directory=True)
    samples, report = index(tmp_path)
    assert ids(samples) == ids(index(root)[0])
    assert report.layout == "IEMOCAP_full_release (Session1, Session5) in IEMOCAP_full_release/"
    assert samples[0].audio.startswith("IEMOCAP_full_release/Session1/sentences/wav/")
    for s in samples:
        validate_sample(s, tmp_path, check_files=True)
    with pytest.raises(DataLayoutError, match="looked in the root, IEMOCAP_full_release/"):
        index(tmp_path / "IEMOCAP_full_release" / "Session1")
    with pytest.raises(DataLayoutError, match="no such directory"):
        index(tmp_path / "nowhere")
