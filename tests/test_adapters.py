"""``emoomni data index`` on real layouts built from small fixture files: counts, labels, clean text, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from emoomni.cli import main
from emoomni.data import adapters
from tests.media_fixtures import make_clip, make_wav
from tests.test_meld import C1_ROW, row, write_csv


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """Run the command; its exit status, stdout and stderr."""
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


@pytest.fixture(scope="module")
def meld_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MELD.Raw as its split archives unpack, below the folder the user names; one row carries U+0092."""
    root = tmp_path_factory.mktemp("meld-cli")
    raw = root / "MELD.Raw"
    clip = make_clip(raw / "train" / "train_splits" / "dia0_utt0.mp4", seconds=0.25)
    for rel in ("dev/dev_splits_complete/dia0_utt0", "test/output_repeated_splits_test/dia0_utt0"):
        (raw / rel).parent.mkdir(parents=True)
        shutil.copy(clip, raw / f"{rel}.mp4")
    write_csv(raw / "train" / "train_sent_emo.csv", [row(1, C1_ROW, "neutral", 0, 0), row(2, "Gone.", "joy", 0, 1)],
              "utf-8")
    write_csv(raw / "dev" / "dev_sent_emo.csv", [row(1, "It\u2019s a cp1252 row.", "anger", 0, 0)], "cp1252")
    write_csv(raw / "test" / "test_sent_emo.csv", [row(1, "Wait\x85 what?", "surprise", 0, 0)], "utf-8")
    return root


def test_meld_release_layout(meld_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out_file = tmp_path / "meld.jsonl"
    code, out, err = run(capsys, "data", "index", "meld", meld_release, "--out", out_file)
    assert code == 0, err
    assert out.splitlines()[:2] == [
        "meld: kept 3, skipped 1",
        "  layout: MELD release archive (<split>/<split>_sent_emo.csv beside <split>/<video folder>/) in MELD.Raw/",
    ]
    assert "skipped, missing file: 1" in out and f"manifest: {out_file}" in out
    raw = out_file.read_bytes()
    raw.decode("utf-8")
    lines = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert [(s["split"], s["label"]) for s in lines] == [("train", "neutral"), ("val", "angry"), ("test", "surprised")]
    assert "company\u2019s transition" in lines[0]["transcript"] and lines[2]["transcript"] == "Wait\u2026 what?"
    assert lines[1]["transcript"] == "It\u2019s a cp1252 row."
    assert not any(0x80 <= ord(c) < 0xA0 for c in raw.decode("utf-8"))
    code, out, _ = run(capsys, "data", "index", "meld", meld_release, "--split", "dev,test", "--out", out_file)
    assert code == 0 and out.startswith("meld: kept 2, skipped 0")


def test_missing_root_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for dataset in adapters.ADAPTERS:
        code, out, err = run(capsys, "data", "index", dataset, tmp_path / "nowhere", "--out", tmp_path / "m.jsonl")
        assert code == 2 and out == "" and "Traceback" not in err, dataset
        [line] = err.splitlines()
        assert line.startswith(f"emoomni data index: error: {tmp_path / 'nowhere'}: no such directory; expected a")
    assert not (tmp_path / "m.jsonl").exists()
    code, _, err = run(capsys, "-v", "data", "index", "meld", tmp_path / "nowhere", "--out", tmp_path / "m.jsonl")
    assert code == 2 and "Traceback" in err and "DataLayoutError" in err


def test_root_without_the_expected_folders(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "stuff").mkdir()
    for dataset, expected in [("meld", "expected the MELD CSVs"), ("iemocap", "Session1..Session5 folders"),
                              ("dfew", "expected the DFEW train split of fold 1"),
                              ("mer", "expected a mer2025 train label file"),
                              ("omnibench", "expected OmniBench items")]:
        code, out, err = run(capsys, "data", "index", dataset, tmp_path, "--out", tmp_path / "m.jsonl")
        assert code == 2 and len(err.splitlines()) == 1 and expected in err and str(tmp_path) in err, dataset


def test_empty_root_keeps_nothing_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "old.jsonl").write_text("keep me\n")
    code, out, err = run(capsys, "data", "index", "ravdess", tmp_path, "--out", tmp_path / "m.jsonl")
    assert code == 1 and out.startswith("ravdess: kept 0, skipped 0\n  layout: RAVDESS: no .mp4 or .wav file")
    assert "no sample kept" in err and not (tmp_path / "m.jsonl").exists()


def test_options_reach_the_adapter(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_clip(tmp_path / "mer2024-dataset" / "video-labeled" / "s1.mp4", seconds=0.25)
    (tmp_path / "mer2024-dataset" / "label-disdim.csv").write_text("name,discrete\ns1,surprise\n", encoding="utf-8")
    (tmp_path / "mine.csv").write_text("name,discrete\ns1,sad\n", encoding="utf-8")
    out_file = tmp_path / "mer.jsonl"
    code, out, err = run(capsys, "data", "index", "mer", tmp_path, "--edition", "mer2024", "--out", out_file)
    assert code == 0, err
    assert "layout: mer2024 train: labels mer2024-dataset/label-disdim.csv in mer2024-dataset/" in out
    [sample] = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert (sample["id"], sample["label"], sample["video"]) == (
        "mer2024-train-s1", "surprised", "mer2024-dataset/video-labeled/s1.mp4")
    code, out, err = run(capsys, "data", "index", "mer", tmp_path / "mer2024-dataset", "--edition", "mer2024",
                         "--split", "dev", "--label-file", tmp_path / "mine.csv", "--out", out_file)
    assert code == 0 and json.loads(out_file.read_text())["split"] == "dev", err
    code, _, err = run(capsys, "data", "index", "mer", tmp_path, "--edition", "mer2024", "--split", "test1",
                       "--out", out_file)
    assert code == 2 and "unknown mer2024 split 'test1'" in err


def test_option_a_data_set_does_not_read(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(capsys, "data", "index", "meld", tmp_path, "--fold", "2", "--protocol", "iemocap6",
                       "--out", tmp_path / "m.jsonl")
    assert code == 2
    assert err.strip() == "emoomni data index: error: meld does not read --fold, --protocol (it reads --split)"
    code, _, err = run(capsys, "data", "index", "ravdess", tmp_path, "--label-file", "x.csv", "--out", tmp_path / "m")
    assert code == 2 and "ravdess does not read --label-file" in err


def test_structural_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "track1_train_disdim.csv").write_text("name,valence\ns1,1\ns2,2\n", encoding="utf-8")
    code, _, err = run(capsys, "data", "index", "mer", tmp_path, "--out", tmp_path / "m.jsonl")
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{tmp_path / 'track1_train_disdim.csv'}: expected columns name/utterance_id, discrete/emotion/label" in err
    np.savez_compressed(tmp_path / "label-6way.npz", train_corpus={"s1": {"emo": "sad"}})
    data = (tmp_path / "label-6way.npz").read_bytes()
    (tmp_path / "label-6way.npz").write_bytes(data[:40])
    code, _, err = run(capsys, "data", "index", "mer", tmp_path, "--edition", "mer2023", "--out", tmp_path / "m")
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{tmp_path / 'label-6way.npz'}: expected a MERTools label .npz" in err and "truncated" in err
    meld = tmp_path / "MELD.Raw"
    meld.mkdir()
    (meld / "test_sent_emo.csv").write_text("Sr No.,Utterance,Speaker\n" + "1,Hi.,Joey\n" * 40, encoding="utf-8")
    code, _, err = run(capsys, "data", "index", "meld", tmp_path, "--split", "test", "--out", tmp_path / "m")
    assert code == 2 and len(err.splitlines()) == 1 and "missing Emotion, Dialogue_ID, Utterance_ID" in err


def test_omnibench_and_iemocap_through_the_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    bench = tmp_path / "OmniBench"
    (bench / "mm_data" / "image").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(bench / "mm_data" / "image" / "a.png")
    make_wav(bench / "mm_data" / "audio" / "a.wav")
    (bench / "dataset").mkdir()
    item = {"task type": "t", "question": "q?", "options": ["a", "b", "c", "d"], "answer": "c", "index": 7,
            "image_path": "a.png", "audio_path": "a.wav"}
    (bench / "dataset" / "items.jsonl").write_text(json.dumps(item) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "data", "index", "omnibench", bench, "--out", tmp_path / "items.jsonl")
    assert code == 0 and "layout: OmniBench items: dataset/items.jsonl" in out, err
    assert json.loads((tmp_path / "items.jsonl").read_text())["answer_index"] == 2
    session = tmp_path / "iemocap" / "IEMOCAP_full_release" / "Session1"
    (session / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (session / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(
        "[1.0000 - 2.0000]\tSes01F_impro01_F000\tsad\t[2.5000, 2.5000, 2.5000]\n")
    make_wav(session / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav")
    code, out, err = run(capsys, "data", "index", "iemocap", tmp_path / "iemocap", "--test-session", "1",
                         "--protocol", "iemocap6", "--out", tmp_path / "iemocap.jsonl")
    assert code == 0 and "layout: IEMOCAP_full_release (Session1) in IEMOCAP_full_release/" in out, err
    sample = json.loads((tmp_path / "iemocap.jsonl").read_text())
    assert (sample["split"], sample["label"], sample["meta"]["label_set"]) == ("test", "sad", "iemocap6")
