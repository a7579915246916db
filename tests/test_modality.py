"""Modality ablation (blank frames, silence, no transcript), its cache and skip report, reliance numbers and reports."""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
import soundfile as sf
import torch

from emoomni.data.manifest import Sample, SkipReport, read_manifest, resolve_media
from emoomni.data.synthemo import generate
from emoomni.evaluate import Prediction, predict
from emoomni.evaluate.modality import (ABLATIONS, ablate, dominant_modality, guided_distribution, read_skips,
                                       reliance_profile, reliance_sentence)
from emoomni.media import probe, read_audio, read_frames
from emoomni.model import chat_messages, omni_inputs
from emoomni.report import modality as report
from tests.media_fixtures import make_clip, make_corrupt, make_wav

LABELS = ("neutral", "happy", "sad", "angry", "worried", "surprised")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Sample]]:
    """Three SynthEmo clips plus hand-made cases: separate wav, corrupt clip, missing track, silent video."""
    root = tmp_path_factory.mktemp("data")
    samples = generate(root, 3, seed=0)
    make_clip(root / "extra/frames.mp4", audio=False)
    make_wav(root / "extra/voice.wav", seconds=0.5)
    make_corrupt(root / "extra/bad.mp4")
    samples += [
        Sample("sep", "synthemo", "test", video="extra/frames.mp4", audio="extra/voice.wav", transcript="Hi.",
               label="sad"),
        Sample("bad", "synthemo", "test", video="extra/bad.mp4", transcript="Oh.", label="sad"),
        Sample("mute", "synthemo", "test", video="extra/frames.mp4", transcript="No.", label="sad",
               meta={"audio_in_video": True}),
        Sample("frames_only", "synthemo", "test", video="extra/frames.mp4", label="sad"),
    ]
    return root, samples


@pytest.fixture(scope="module")
def ablated(data, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[list[Sample], Path]]]:
    """Every ablation of the data, written once."""
    root, samples = data
    out = tmp_path_factory.mktemp("ablated")
    return out, {m: ablate(samples, root, out, m) for m in ABLATIONS}


def by_id(samples: list[Sample]) -> dict[str, Sample]:
    return {s.id: s for s in samples}


def media(root: Path, s: Sample) -> Path:
    return resolve_media(root, s.video)


def test_vision_ablation_blanks_frames_and_keeps_the_audio(data, ablated):
    root, samples = data
    new, new_root = ablated[1]["vision"]
    assert new_root == ablated[0] / "vision"
    for s in samples[:3]:
        a = by_id(new)[s.id]
        orig, blank = read_frames(media(root, s)), read_frames(media(new_root, a))
        assert blank.shape == orig.shape  # same frame count and size
        assert orig.reshape(len(orig), -1).std(axis=1).min() > 5  # the face has texture
        assert blank.reshape(len(blank), -1).std(axis=1).max() < 0.5  # uniform grey
        assert np.array_equal(read_audio(media(root, s)), read_audio(media(new_root, a)))  # audio copied
        assert probe(media(new_root, a)).duration == pytest.approx(probe(media(root, s)).duration, abs=0.25)
        assert a.transcript == s.transcript and a.meta["ablated"] == "vision" and a.meta["audio_in_video"] is True
    sep = by_id(new)["sep"]  # the separate audio file is linked unchanged
    assert sep.audio == "extra/voice.wav"
    assert (new_root / sep.audio).read_bytes() == (root / "extra/voice.wav").read_bytes()
    assert "frames_only" in by_id(new) and "bad" not in by_id(new)
    assert read_manifest(new_root / "manifest.jsonl", new_root, check_files=True) == new


def test_audio_ablation_silences_and_keeps_frames_and_length(data, ablated):
    root, samples = data
    new, new_root = ablated[1]["audio"]
    for s in samples[:3]:
        a = by_id(new)[s.id]
        orig, quiet = read_audio(media(root, s)), read_audio(media(new_root, a))
        assert np.sqrt(np.mean(orig ** 2)) > 0.01 and np.sqrt(np.mean(quiet ** 2)) < 1e-4
        assert abs(len(quiet) - len(orig)) <= 16000 / 4  # within one frame at 4 fps
        assert probe(media(new_root, a)).duration == pytest.approx(probe(media(root, s)).duration, abs=0.25)
        assert np.array_equal(read_frames(media(root, s)), read_frames(media(new_root, a)))  # frames copied
    sep = by_id(new)["sep"]
    wav, rate = sf.read(new_root / sep.audio)
    assert sep.audio == "extra/voice.wav" and rate == 16000 and len(wav) == sf.info(root / "extra/voice.wav").frames
    assert not wav.any()
    assert set(by_id(new)) == {s.id for s in samples[:3]} | {"sep"}  # bad: corrupt; mute: track missing
    skips = read_skips(new_root)
    assert skips["excluded"] == {"no audio to silence": 1}  # frames_only has no sound at all
    assert [f for f, _ in skips["skipped"]] == [str(root / "extra/bad.mp4"), str(root / "extra/frames.mp4")]
    assert skips["skipped"][1][1].startswith("no audio stream:")


def test_text_ablation_removes_the_transcript_only(data, ablated):
    root, samples = data
    new, new_root = ablated[1]["text"]
    s, a = samples[0], by_id(new)[samples[0].id]
    assert a.transcript is None and s.transcript
    assert media(new_root, a).read_bytes() == media(root, s).read_bytes()
    before = chat_messages(s, LABELS, root)[1]["content"][-1]["text"]
    after = chat_messages(a, LABELS, new_root)[1]["content"][-1]["text"]
    assert s.transcript in before and s.transcript not in after
    assert "frames_only" not in by_id(new) and read_skips(new_root)["excluded"] == {"no transcript to remove": 1}
    assert ablated[1]["none"] == (samples, root)


def test_corrupt_clip_is_a_skip_entry_and_the_run_goes_on(data, ablated):
    root, samples = data
    report_ = SkipReport("vision")
    new, new_root = ablate(samples, root, ablated[0], "vision", report=report_)
    assert len(new) == len(samples) - 1 and report_.kept == len(new)
    (file, reason), = report_.skipped
    assert file == str(root / "extra/bad.mp4") and reason.startswith("unreadable media:") and file in reason
    assert read_skips(new_root)["skipped"] == [[file, reason]]


def test_second_call_reuses_files_and_a_newer_source_is_redone(data, ablated, tmp_path):
    root, samples = data
    out = ablated[0]

    def stamps() -> dict[str, int]:
        return {str(p): p.lstat().st_mtime_ns for m in ("vision", "audio", "text") for p in (out / m).rglob("*")
                if p.is_file() and p.suffix in (".mp4", ".wav")}

    before = stamps()
    assert len(before) >= 12
    for m in ABLATIONS:
        assert ablate(samples, root, out, m)[0] == ablated[1][m][0]
    assert stamps() == before
    src = media(root, samples[0])
    later = max(src.stat().st_mtime_ns, before[str(out / "vision" / samples[0].video)]) + 10**9  # newer than the copy
    os.utime(src, ns=(later, later))
    ablate(samples, root, out, "vision")
    after = stamps()
    changed = {p for p in before if after[p] != before[p]}
    assert changed == {str(out / "vision" / samples[0].video)}
    with pytest.raises(ValueError, match="unknown modality"):
        ablate(samples, root, out, "smell")
    with pytest.raises(ValueError, match="is the data root itself"):
        ablate(ablated[1]["vision"][0], out / "vision", out, "vision")


def P(sid: str, answer: str | None, gold: str = "sad", stats: dict | None = None, p_star: float | None = None):
    return Prediction(sid, "", answer, gold, False, stats or {"vision": None, "audio": None}, p_star=p_star)


def test_reliance_profile_hand_computed():
    ref = [P("a", "sad"), P("b", "sad"), P("c", "happy"), P("d", None), P("e", "sad")]
    vision = [P("a", "happy"), P("b", "sad"), P("c", "sad"), P("d", None), P("e", None)]  # flips a, c, e
    audio = [P("a", "sad"), P("b", "sad"), P("c", "happy"), P("d", "sad")]  # flips d (from None); e skipped
    prof = reliance_profile(ref, {"vision": vision, "audio": audio})
    assert prof.loc["vision"].to_dict() == {"n": 5, "flip_rate": 0.6, "accuracy": 0.6, "ablated_accuracy": 0.4,
                                            "accuracy_drop": pytest.approx(0.2)}
    assert prof.loc["audio"].to_dict() == {"n": 4, "flip_rate": 0.25, "accuracy": 0.5, "ablated_accuracy": 0.75,
                                           "accuracy_drop": -0.25}
    assert dominant_modality(prof) == "vision"
    empty = reliance_profile(ref, {"text": []})
    assert empty.loc["text", "n"] == 0 and math.isnan(empty.loc["text", "flip_rate"])
    with pytest.raises(ValueError, match="no reference prediction"):
        reliance_profile(ref, {"vision": [P("z", "sad")]})
    with pytest.raises(ValueError, match="gold"):
        reliance_profile(ref, {"vision": [P("a", "sad", gold="happy")]})
    later = reliance_profile(ref, {"vision": ref, "audio": audio})  # no drop for vision any more
    sentence = reliance_sentence({"base": prof, "trained": later})
    assert sentence.startswith("Removing vision, the modality base relies on most, lowers its accuracy by 20.0 points")
    assert "0.0 points and 0.0 % for trained" in sentence and sentence.endswith("reliance on vision went down.")
    assert reliance_sentence({"a": prof, "b": prof}).endswith("reliance on vision did not change.")
    assert reliance_sentence({"b": later, "a": prof}).endswith("reliance on vision went up.")


def test_guided_distribution_hand_computed():
    both = {"vision": {"entropy": 0.5, "prob": 0.9}, "audio": {"entropy": 1.5, "prob": 0.3}}
    zero = {"vision": {"entropy": 0.0, "prob": 1.0}, "audio": {"entropy": 2.0, "prob": 0.5}}
    one = {"vision": {"entropy": 1.0, "prob": 0.4}, "audio": None}
    dist = guided_distribution([P("a", "sad", stats=both, p_star=0.5), P("b", None, stats=zero),
                                P("c", "sad", stats=one, p_star=0.1)])
    # u = (0.9/0.5, 0.3/1.5) = (1.8, 0.2): w = (0.9, 0.1)
    assert dist.loc["a"].tolist() == pytest.approx([0.5, 1.5, 0.9, 0.3, 0.9, 0.1, 0.5])
    assert dist.loc["b", ["w_vision", "w_audio"]].tolist() == [1.0, 0.0] and math.isnan(dist.loc["b", "p_star"])
    assert dist.loc["c", "H_vision"] == 1.0 and dist.loc["c", ["H_audio", "w_vision", "w_audio"]].isna().all()
    assert list(dist.columns) == ["H_vision", "H_audio", "p_vision", "p_audio", "w_vision", "w_audio", "p_star"]


def test_reports_return_figures_and_tables():
    ref = [P("a", "sad"), P("b", "happy")]
    profiles = {"base": reliance_profile(ref, {"vision": [P("a", None), P("b", "happy")], "audio": ref}),
                "dyme": reliance_profile(ref, {"vision": ref, "audio": [P("a", "sad")], "text": ref})}
    assert isinstance(report.reliance_chart(profiles), matplotlib.figure.Figure)
    table = report.reliance_table(profiles)
    assert table.loc[("base", "vision"), "accuracy drop (points)"] == 50.0
    assert table.loc[("dyme", "audio"), "n"] == 1 and len(table) == 5
    stats = {"vision": {"entropy": 0.5, "prob": 0.9}, "audio": {"entropy": 1.5, "prob": 0.3}}
    dists = {"base": guided_distribution([P("a", "sad", stats=stats), P("b", None)]),
             "dyme": guided_distribution([P("a", None)])}
    assert isinstance(report.entropy_distributions(dists), matplotlib.figure.Figure)


def test_ablated_sets_run_through_predict(omni, one_thread, data, ablated, tmp_path):
    model, processor = omni
    samples = data[1]
    chosen = [s.id for s in samples[:2]]
    runs, inputs = {}, {}
    for m in ABLATIONS:
        sub, sub_root = ablated[1][m]
        sub = [s for s in sub if s.id in chosen]
        runs[m] = predict(model, processor, sub, sub_root, "synthemo", tmp_path / f"{m}.jsonl", batch_size=2,
                          max_new_tokens=4)
        inputs[m] = omni_inputs(processor, [chat_messages(sub[0], LABELS, sub_root)], add_generation_prompt=True)
        assert [p.sample_id for p in runs[m]] == chosen
    # each ablation changes exactly its own part of the model input
    assert not torch.equal(inputs["vision"]["pixel_values_videos"], inputs["none"]["pixel_values_videos"])
    assert torch.equal(inputs["vision"]["input_features"], inputs["none"]["input_features"])
    assert not torch.equal(inputs["audio"]["input_features"], inputs["none"]["input_features"])
    assert torch.equal(inputs["audio"]["pixel_values_videos"], inputs["none"]["pixel_values_videos"])
    assert inputs["text"]["input_ids"].shape[1] < inputs["none"]["input_ids"].shape[1]
    prof = reliance_profile(runs["none"], {m: runs[m] for m in ("vision", "audio", "text")})
    assert prof["n"].tolist() == [2, 2, 2]
    assert list(guided_distribution(runs["none"]).index) == chosen
