"""SynthEmo: determinism, balance, decodable media, no leaks, resumption, clear errors."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from emoomni.data.manifest import read_manifest
from emoomni.data.synthemo import CLASSES, CONDITIONS, SynthEmoConfig, generate, gold_label, plan
from emoomni.data.synthemo.design import INDEPENDENT, majority
from emoomni.data.synthemo.design import NEUTRALISES, default_dissenters, default_mixtures
from emoomni.data.synthemo.voice import ToolMissingError
from emoomni.labels import LABEL_SETS
from emoomni.media import probe, read_audio, read_frames

N = 36


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthemo")
    return generate(root, N, seed=3, workers=2), root


def test_same_seed_same_bytes(small_set, tmp_path):
    samples, root = small_set
    again = generate(tmp_path, N, seed=3, workers=1)
    assert again == samples
    assert (tmp_path / "manifest.jsonl").read_bytes() == (root / "manifest.jsonl").read_bytes()
    for s in samples[:6]:
        assert (tmp_path / s.video).read_bytes() == (root / s.video).read_bytes()


def test_another_seed_differs():
    a, b = plan(60, 0, SynthEmoConfig()), plan(60, 1, SynthEmoConfig())
    assert [s.sentence for s in a] != [s.sentence for s in b]


def test_media_decodes_with_the_configured_sizes(small_set):
    samples, root = small_set
    for s in samples[:5]:
        info = probe(root / s.video)
        assert info.has_video and info.has_audio and info.sample_rate == 16000
        frames = read_frames(root / s.video)
        assert frames.shape == (8, 112, 112, 3)
        audio = read_audio(root / s.video)
        assert 1.9 < len(audio) / 16000 < 2.2 and abs(audio).max() > 0.05
        assert not (frames[0] == frames[-1]).all() or s.meta["cues"]["vision"] == "neutral"


def test_gold_rule_and_label_set(small_set):
    samples, _ = small_set
    assert set(LABEL_SETS["synthemo"].labels) == set(CLASSES)
    for s in samples:
        cond = s.meta["condition"]
        if cond == INDEPENDENT:  # pre-training clips: the majority when there is one, else no label
            assert s.split == "pretrain" and s.label == majority(s.meta["cues"])
            continue
        assert s.label == gold_label(s.meta["cues"])
        if cond in NEUTRALISES:
            assert s.meta["cues"][NEUTRALISES[cond]] == "neutral" and s.label != "neutral"
        if cond == "conflict":
            assert s.meta["cues"][s.meta["dissenter"]] != s.label


def test_classes_balanced_within_each_condition_and_mixture_quotas():
    specs = plan(1000, 0, SynthEmoConfig())
    by = Counter((s.split, s.condition, s.gold) for s in specs)
    for split in ("train", "test"):
        for cond in CONDITIONS:
            counts = [by[(split, cond, c)] for c in CLASSES if not (cond in NEUTRALISES and c == "neutral")]
            assert max(counts) - min(counts) <= 1, (split, cond, counts)
    split_sizes = Counter(s.split for s in specs)
    assert split_sizes == {"pretrain": 250, "train": 450, "val": 50, "test": 250}
    test = Counter(s.condition for s in specs if s.split == "test")
    train = Counter(s.condition for s in specs if s.split == "train")
    assert test["poker_face"] / 250 == pytest.approx(default_mixtures()["test"]["poker_face"], abs=0.01)
    assert train["poker_face"] / 450 == pytest.approx(0.05, abs=0.01)
    dissent = Counter(s.dissenter for s in specs if s.split == "test" and s.condition == "conflict")
    assert set(dissent) == {"vision"}
    assert "vision" not in {s.dissenter for s in specs if s.split == "train" and s.condition == "conflict"}


def test_shortcut_is_configurable():
    m, d = default_mixtures("audio"), default_dissenters("audio")
    assert m["test"]["flat_voice"] == 0.3 and m["train"]["flat_voice"] == 0.05
    assert d["test"] == {"audio": 1.0}


def test_nothing_model_visible_names_a_label_or_condition(small_set):
    samples, root = small_set
    words = set(CLASSES) | set(CONDITIONS) | {w for c in CONDITIONS for w in c.split("_")} | {
        "happiness", "joy", "sadness", "anger", "fear", "fearful", "surprise", "worry", "calm", "excited"}
    for s in samples:
        visible = f"{s.id} {s.video} {s.transcript}".lower().replace("-", " ").replace("/", " ").replace(".", " ")
        assert not (set(visible.split()) & words), (s.id, s.transcript)
        tags = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags:stream_tags", "-of", "json",
                               str(root / s.video)], capture_output=True, text=True, check=True).stdout
        assert not any(w in tags.lower() for w in CLASSES)


def test_data_card_and_manifest(small_set):
    samples, root = small_set
    assert read_manifest(root / "manifest.jsonl", root, check_files=True) == samples
    card = (root / "DATACARD.md").read_text()
    assert "Gold rule" in card and "poker_face" in card


def test_refuses_a_directory_of_another_set(small_set):
    _, root = small_set
    with pytest.raises(FileExistsError, match="another seed"):
        generate(root, N, seed=4)


def test_missing_tools_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="espeak-ng is not installed.*apt-get install espeak-ng"):
        generate(tmp_path / "out", 4, seed=0)


def test_resumes_after_a_kill_without_rewriting_or_duplicating(tmp_path):
    out = tmp_path / "set"
    code = f"from emoomni.data.synthemo import generate; generate({str(out)!r}, 48, seed=5, workers=1)"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    journal = out / ".journal.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 10):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.jsonl").exists(), "the run finished before it could be killed"
    done_before = {json.loads(x)["id"] for x in journal.read_text().splitlines() if x.strip().endswith("}")}
    mtimes = {i: os.stat(out / "clips" / f"{i}.mp4").st_mtime_ns for i in done_before}
    samples = generate(out, 48, seed=5, workers=2)
    ids = [s.id for s in samples]
    assert len(ids) == len(set(ids)) == 48
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 48
    assert all(os.stat(out / "clips" / f"{i}.mp4").st_mtime_ns == t for i, t in mtimes.items())
    assert sorted(p.name for p in (out / "clips").iterdir()) == sorted(f"{i}.mp4" for i in ids)
    fresh = generate(tmp_path / "fresh", 48, seed=5, workers=2)
    assert (tmp_path / "fresh" / "manifest.jsonl").read_bytes() == (out / "manifest.jsonl").read_bytes()
    assert fresh == samples


def test_pretraining_cues_are_independent_of_each_other():
    """No cue predicts another on the pre-training clips: each pair agrees about as often as chance (1 in 6)."""
    specs = [s for s in plan(3000, 0, SynthEmoConfig()) if s.split == "pretrain"]
    assert {s.condition for s in specs} == {INDEPENDENT}
    for a, b in (("vision", "audio"), ("vision", "text"), ("audio", "text")):
        agree = sum(s.cues[a] == s.cues[b] for s in specs) / len(specs)
        assert abs(agree - 1 / 6) < 0.04, (a, b, agree)
    assert any(s.gold is None for s in specs) and any(s.gold is not None for s in specs)


def test_sets_that_differ_in_the_shortcut_share_their_pretraining_clips():
    """Only a split's own mixture decides its clips, so the tiny base can be shared between shortcuts."""
    from emoomni.data.synthemo.generate import pretrain_equivalent

    mine = SynthEmoConfig(shortcut="audio")
    shared = pretrain_equivalent(mine)
    assert shared != mine and shared.shortcut == SynthEmoConfig().shortcut
    a, b = plan(200, 4, mine), plan(200, 4, shared)
    split = lambda specs, name: [s for s in specs if s.split == name]  # noqa: E731
    assert split(a, "pretrain") == split(b, "pretrain") and len(split(a, "pretrain")) == 50
    assert split(a, "test") != split(b, "test")
