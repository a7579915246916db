"""RAVDESS adapter on a tiny fixture tree in the real zip layout, with the defects users hit."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from emoomni.data.common import DataLayoutError
from emoomni.data.manifest import validate_sample
from emoomni.data.ravdess import index, parse_filename
from tests.media_fixtures import make_clip, make_corrupt, make_wav

V1 = "Video_Speech_Actor_01/Actor_01"
V18 = "Video_Speech_Actor_18/Actor_18"
V22 = "Video_Speech_Actor_22/Actor_22"
A = "Audio_Speech_Actors_01-24"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ravdess")
    good = make_clip(root / V1 / "01-01-06-01-02-01-01.mp4")  # fearful, actor 1 -> train
    make_clip(root / V18 / "01-01-07-02-01-02-18.mp4")  # disgust, actor 18 -> val
    make_clip(root / V22 / "01-01-03-01-01-01-22.mp4")  # happy, actor 22 -> test
    make_clip(root / V1 / "02-01-06-01-02-01-01.mp4", audio=False)  # video-only: excluded by default
    make_clip(root / V22 / "01-01-05-01-01-01-22.mp4", audio=False)  # AV clip that lost its audio
    make_corrupt(root / V22 / "01-01-04-01-01-01-22.mp4")  # corrupt download
    make_corrupt(root / V1 / "01-01-09-01-01-01-01.mp4")  # emotion 09 does not exist
    make_corrupt(root / V1 / "clip_final.mp4")  # not a RAVDESS name
    (root / V18 / "01-01-02-01-01-01-18.mp4").symlink_to(root / "gone.mp4")  # dangling link: missing
    make_clip(root / "Video_Song_Actor_01/Actor_01/01-02-03-01-01-01-01.mp4")  # song
    make_wav(root / A / "Actor_01/03-01-02-01-01-01-01.wav")  # audio-only, calm
    make_wav(root / A / "Actor_21/03-01-08-01-02-02-21.wav")  # audio-only, surprised
    (root / "extra/Actor_01").mkdir(parents=True)
    shutil.copy(good, root / "extra/Actor_01" / good.name)  # the same clip unpacked twice
    (root / A / "Actor_01/._03-01-02-01-01-01-01.wav").write_bytes(b"macOS resource fork")
    return root


def names(report) -> Counter:
    return Counter(Path(f).name for f, _ in report.skipped)


def test_default_index_counts_and_skips(root: Path) -> None:
    samples, report = index(root)
    assert report.kept == len(samples) == 3
    assert report.counts() == Counter(
        {"unparseable filename": 2, "no audio stream": 1, "unreadable media": 1, "missing file": 1, "duplicate file": 1}
    )
    by_reason = {r.split(":")[0]: Path(f).name for f, r in report.skipped if not r.startswith("unparseable")}
    assert by_reason == {
        "no audio stream": "01-01-05-01-01-01-22.mp4",
        "unreadable media": "01-01-04-01-01-01-22.mp4",
        "missing file": "01-01-02-01-01-01-18.mp4",
        "duplicate file": "01-01-06-01-02-01-01.mp4",
    }
    assert names(report)["01-01-09-01-01-01-01.mp4"] == 1 and names(report)["clip_final.mp4"] == 1
    assert all(Path(f).name in r for f, r in report.skipped if not r.startswith("duplicate"))
    assert report.excluded == Counter({
        "modality 02 (video-only) not selected": 1,
        "modality 03 (audio-only) not selected": 2,
        "channel song not selected": 1,
    })


def test_labels_splits_and_meta(root: Path) -> None:
    samples, _ = index(root)
    got = {s.id: (s.label, s.split, s.meta["actor"], s.meta["gender"]) for s in samples}
    assert got == {
        "ravdess-01-01-06-01-02-01-01": ("fearful", "train", 1, "male"),
        "ravdess-01-01-07-02-01-02-18": ("disgusted", "val", 18, "female"),
        "ravdess-01-01-03-01-01-01-22": ("happy", "test", 22, "female"),
    }
    s = next(s for s in samples if s.meta["actor"] == 1)
    assert s.video == f"{V1}/01-01-06-01-02-01-01.mp4" and s.audio is None
    assert s.transcript == "Dogs are sitting by the door"
    assert s.meta == {
        "actor": 1, "gender": "male", "intensity": "normal", "statement": 2, "repetition": 1,
        "modality": "audio-video", "channel": "speech", "audio_in_video": True,
    }
    assert next(s for s in samples if s.meta["actor"] == 18).meta["intensity"] == "strong"


def test_all_modalities(root: Path) -> None:
    samples, report = index(root, modalities=("01", "02", "03"))
    assert report.kept == len(samples) == 6
    by_id = {s.id: s for s in samples}
    silent = by_id["ravdess-02-01-06-01-02-01-01"]
    assert silent.video and silent.audio is None and silent.meta["audio_in_video"] is False
    wav = by_id["ravdess-03-01-08-01-02-02-21"]
    assert wav.audio == f"{A}/Actor_21/03-01-08-01-02-02-21.wav" and wav.video is None
    assert (wav.label, wav.split, wav.meta["repetition"]) == ("surprised", "test", 2)
    assert by_id["ravdess-03-01-02-01-01-01-01"].label == "calm"
    assert report.counts()["no audio stream"] == 1  # the silent 02 clip is fine, the silent 01 clip is not


def test_every_sample_validates_and_ids_unique(root: Path) -> None:
    for kw in ({}, {"modalities": ("01", "02", "03")}, {"channel": "song"}):
        samples, _ = index(root, **kw)
        assert len({s.id for s in samples}) == len(samples)
        for s in samples:
            validate_sample(s, root, check_files=True)
            assert "\\" not in (s.video or s.audio) and not Path(s.video or s.audio).is_absolute()


def test_song_channel_kept_apart(root: Path) -> None:
    samples, report = index(root, channel="song")
    assert [(s.id, s.meta["channel"], s.label) for s in samples] == [("ravdess-01-02-03-01-01-01-01", "song", "happy")]
    assert report.excluded["channel speech not selected"] == 7


def test_splits_are_actor_disjoint(root: Path) -> None:
    samples, _ = index(root, modalities=("01", "02", "03"))
    actors = {split: {s.meta["actor"] for s in samples if s.split == split} for split in ("train", "val", "test")}
    assert actors == {"train": {1}, "val": {18}, "test": {21, 22}}


def test_custom_split_actors(root: Path) -> None:
    samples, report = index(root, split_actors={"train": [1, 22], "test": [18]})
    assert {s.meta["actor"]: s.split for s in samples} == {1: "train", 22: "train", 18: "test"}
    with pytest.raises(ValueError, match="actor 1 is in both"):
        index(root, split_actors={"train": [1, 2], "test": [1]})
    samples, report = index(root, split_actors={"train": [1]})
    # actor 22's corrupt and silent clips are excluded before they are probed
    assert report.kept == 1 and report.excluded["actor 22 in no split"] == 3


def test_bad_options(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="channel"):
        index(root, channel="both")
    with pytest.raises(ValueError, match="modality"):
        index(root, modalities=("04",))
    with pytest.raises(DataLayoutError, match="nowhere: no such directory"):
        index(tmp_path / "nowhere")


def test_layout_line_empty_root_and_second_downloads(root: Path, tmp_path: Path) -> None:
    assert index(root)[1].layout == "RAVDESS: 13 media files of 4 actors (Actor_NN folders)"
    samples, report = index(tmp_path)
    assert samples == [] and report.kept == 0 and "no .mp4 or .wav file" in report.layout
    make_clip(tmp_path / "Actor_01" / "01-01-03-01-01-01-01.mp4")
    actor = tmp_path / "Actor_01"
    shutil.copy(actor / "01-01-03-01-01-01-01.mp4", actor / "01-01-03-01-01-01-01 (1).mp4")
    samples, report = index(tmp_path)
    assert [s.id for s in samples] == ["ravdess-01-01-03-01-01-01-01"]
    [(file, reason)] = report.skipped
    assert reason == ("duplicate file: 01-01-03-01-01-01-01 (1).mp4 is a second copy of 01-01-03-01-01-01-01.mp4")


@pytest.mark.parametrize(
    "name, message",
    [
        ("01-01-06-01-02-01.mp4", "got 6 fields"),
        ("01-01-06-01-02-01-12-03.mp4", "got 8 fields"),
        ("01-01-6-01-02-01-12.mp4", "two-digit"),
        ("04-01-06-01-02-01-12.mp4", "modality code '04'"),
        ("01-03-06-01-02-01-12.mp4", "vocal channel code '03'"),
        ("01-01-00-01-02-01-12.mp4", "emotion code '00'"),
        ("01-01-06-03-02-01-12.mp4", "intensity code '03'"),
        ("01-01-06-01-03-01-12.mp4", "statement code '03'"),
        ("01-01-06-01-02-03-12.mp4", "repetition code '03'"),
        ("01-01-06-01-02-01-25.mp4", "actor code '25'"),
        ("01-01-06-01-02-01-00.wav", "actor code '00'"),
    ],
)
def test_parse_filename_rejects(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        parse_filename(name)
    assert name in str(err.value)


def test_parse_filename_all_fields() -> None:
    assert parse_filename("02-02-05-02-02-02-24") == {
        "modality": "02", "vocal_channel": "song", "emotion": "angry", "intensity": "strong", "statement": 2,
        "sentence": "Dogs are sitting by the door", "repetition": 2, "actor": 24, "gender": "female",
    }
    assert [parse_filename(f"01-01-{e:02d}-01-01-01-01.mp4")["emotion"] for e in range(1, 9)] == [
        "neutral", "calm", "happy", "sad", "angry", "fearful", "disgusted", "surprised"
    ]


def test_suffix_must_match_modality(tmp_path: Path) -> None:
    make_corrupt(tmp_path / "Actor_03" / "03-01-05-01-01-01-03.mp4")  # audio-only code on an mp4
    make_corrupt(tmp_path / "Actor_03" / "01-01-05-01-01-01-03.wav")  # audio-video code on a wav
    samples, report = index(tmp_path, modalities=("01", "03"))
    assert samples == [] and report.kept == 0
    assert report.counts() == Counter({"unparseable filename": 2})
    assert sorted(Path(f).name for f, _ in report.skipped) == ["01-01-05-01-01-01-03.wav", "03-01-05-01-01-01-03.mp4"]
