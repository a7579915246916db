"""Encoder pre-training: the towers learn their cues with a throw-away probe; nothing else moves; the result is cached."""

import json
import math

import pytest
from safetensors.torch import load_file

from emoomni import ledger
from emoomni.data.synthemo.design import CLASSES
from emoomni.data.synthemo import generate
from emoomni.data.synthemo.faces import face_clips
from emoomni.data.synthemo.generate import SynthEmoConfig
from emoomni.data.synthemo.voices import voice_clips
from emoomni.model.inputs import load_audio, load_video
from emoomni.train.encoders import EncoderSettings, pretrain_encoders

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("synthemo")
    return root, generate(root, 12, seed=0)


def weights(model_dir) -> dict:
    return load_file(str(model_dir / "model.safetensors"))


def test_face_clips_are_encoded_like_synthemo_cycle_the_classes_and_are_rendered_once(tmp_path):
    faces = face_clips(tmp_path, 8, seed=3, config=SynthEmoConfig(frames=4))
    assert [f.meta["cues"]["vision"] for f in faces[:6]] == list(CLASSES)
    assert all(f.video and not f.audio and not f.transcript and f.meta["audio_in_video"] is False for f in faces)
    clip = load_video(str(tmp_path / faces[0].video), 4.0)
    assert clip.shape == (4, 112, 112, 3) and clip.dtype.name == "uint8"
    stamps = [(tmp_path / f.video).stat().st_mtime_ns for f in faces]
    assert face_clips(tmp_path, 8, seed=3, config=SynthEmoConfig(frames=4)) == faces  # a rerun renders nothing
    assert [(tmp_path / f.video).stat().st_mtime_ns for f in faces] == stamps
    other = face_clips(tmp_path / "other", 1, seed=4, config=SynthEmoConfig(frames=4))
    assert not (load_video(str(tmp_path / "other" / other[0].video), 4.0) == clip).all()


def test_the_vision_phase_reads_unseen_faces_above_chance_and_moves_only_the_vision_tower(tiny, data, tmp_path):
    root, samples = data
    s = EncoderSettings(vision_steps=400, faces=240, batch_size=16, learning_rate=3e-3, frames=4)
    faces = face_clips(tmp_path / "faces", s.faces + s.faces // 10, s.seed, SynthEmoConfig(frames=4), workers=2)
    out = pretrain_encoders(tiny, samples, root, tmp_path / "enc", s, faces=faces, faces_root=tmp_path / "faces")
    probe = json.loads((out / "encoders.json").read_text())["probes"]["vision"]
    assert probe["final_loss"] < len(s.probes) * (math.log(6) - 0.3)  # it learned something (losses summed)
    assert set(probe["held_out_accuracy"]) == set(s.probes) and probe["n_held_out"] == 24
    acc = probe["held_out_accuracy"].values()  # chance is 1/6; 24 faces, so one face moves a probe 4 points
    assert max(acc) > 0.3 and min(acc) > 1 / 6  # the tower carries the face; CPUs' rounding moves the weaker probe
    before, after = weights(tiny), weights(out)
    moved = {k for k in before if not (before[k] == after[k]).all()}
    assert moved and all(k.startswith("visual.") for k in moved)  # no audio or language weight changed
    assert any(k.startswith("visual.blocks.") for k in moved)
    ledger.clear()
    assert pretrain_encoders(tiny, samples, root, tmp_path / "enc", s, faces=faces,
                             faces_root=tmp_path / "faces") == out
    assert [e.outcome for e in ledger.entries()] == ["reused"]
    with pytest.raises(ValueError, match="more than 240 face clips"):
        pretrain_encoders(tiny, samples, root, tmp_path / "enc2", s, faces=faces[:240], faces_root=tmp_path / "faces")


def test_voice_clips_sound_like_synthemo_s_tracks_cycle_the_classes_and_are_rendered_once(data, tmp_path):
    root, samples = data
    voices = voice_clips(tmp_path, 7, seed=3, workers=2)
    assert [v.meta["cues"]["audio"] for v in voices[:6]] == list(CLASSES)
    assert all(v.audio and not v.video and not v.transcript for v in voices)
    wave = load_audio(str(tmp_path / voices[0].audio))
    assert wave.shape == load_audio(str(root / samples[0].video)).shape  # the clip's length, as SynthEmo's tracks
    assert abs(wave).max() > 0.05  # speech, not the padding alone
    stamps = [(tmp_path / v.audio).stat().st_mtime_ns for v in voices]
    assert voice_clips(tmp_path, 7, seed=3) == voices  # a rerun renders nothing
    assert [(tmp_path / v.audio).stat().st_mtime_ns for v in voices] == stamps
    other = voice_clips(tmp_path / "other", 1, seed=4)
    assert load_audio(str(tmp_path / "other" / other[0].audio)).tolist() != wave.tolist()


def test_the_audio_tower_learns_from_the_voice_clips_too_and_is_measured_on_the_split_s_voices(tiny, data, tmp_path):
    root, samples = data
    voices = voice_clips(tmp_path / "voices", 6, seed=0, workers=2)
    s = EncoderSettings(audio_steps=2, batch_size=4, holdout=0.25, voices=6)
    out = pretrain_encoders(tiny, samples, root, tmp_path / "enc", s, voices=voices, voices_root=tmp_path / "voices")
    meta = json.loads((out / "encoders.json").read_text())
    split = [x.id for x in samples if x.split == "pretrain" and x.video]
    assert meta["voices"] == split + [v.id for v in voices]
    assert meta["probes"]["audio"]["n_held_out"] == round(0.25 * len(split))  # measured on the split's voices only
    assert meta["probes"]["audio"]["n_train"] == len(split) - round(0.25 * len(split)) + 6
    before, after = weights(tiny), weights(out)
    assert all(k.startswith("audio_tower.") for k in before if not (before[k] == after[k]).all())


def test_unknown_probe_poolings_are_refused():
    with pytest.raises(ValueError, match="non-empty list of"):
        EncoderSettings(probes=("median",))
    with pytest.raises(ValueError, match="vision or audio tower this phase trains"):
        EncoderSettings(audio_steps=1, skills=("vision",))


def test_the_audio_phase_moves_only_the_audio_tower(tiny, data, tmp_path):
    root, samples = data
    s = EncoderSettings(audio_steps=3, batch_size=4, holdout=0.0)
    out = pretrain_encoders(tiny, samples, root, tmp_path / "enc", s)
    before, after = weights(tiny), weights(out)
    moved = {k for k in before if not (before[k] == after[k]).all()}
    assert moved and all(k.startswith("audio_tower.") for k in moved)
    with pytest.raises(ValueError, match="no 'nowhere' clips"):
        pretrain_encoders(tiny, samples, root, tmp_path / "none", s, split="nowhere")


def test_tower_probes_read_the_tokens_the_language_model_gets(tiny, data):
    from emoomni.evaluate.tower_probe import POOLS, tower_separability, tower_tokens
    from emoomni.model import load_omni, omni_inputs
    from emoomni.model.chat import chat_messages

    root, samples = data
    model, processor = load_omni(tiny)
    tokens = tower_tokens(model, processor, samples[:2], root, fps=4.0, size=112)
    inputs = omni_inputs(processor, [chat_messages(samples[0], [], root)], add_generation_prompt=True)
    ids = inputs["input_ids"][0]
    assert len(tokens["vision"][0]) == int((ids == model.config.video_token_id).sum())
    assert len(tokens["audio"][0]) == int((ids == model.config.audio_token_id).sum())
    result = tower_separability(model, processor, samples[:8], samples[8:], root)
    assert set(result) == {"vision", "audio"} and all(set(r) == set(POOLS) for r in result.values())
    assert all(0.0 <= a <= 1.0 for r in result.values() for a in r.values())


def test_clips_processed_once_each_give_the_batch_s_patches_and_tokens(tiny, data):
    import torch

    from emoomni.model import load_omni
    from emoomni.model.inputs import video_size
    from emoomni.train.encoders import video_tokens, vision_inputs

    root, samples = data
    model, processor = load_omni(tiny)
    clips = [load_video(str(root / s.video), 4.0) for s in samples[:3]]
    batch = processor.video_processor(videos=clips, size=video_size(processor, 112), do_sample_frames=False,
                                      return_tensors="pt")
    items = vision_inputs(processor, iter(clips), 112)
    assert torch.equal(torch.cat([x for x, _ in items]), batch["pixel_values_videos"])
    assert torch.equal(torch.cat([g for _, g in items]), batch["video_grid_thw"])
    with torch.no_grad():
        whole = model.get_video_features(batch["pixel_values_videos"], batch["video_grid_thw"]).pooler_output
        whole = torch.cat(list(whole)) if not torch.is_tensor(whole) else whole
        assert torch.equal(torch.cat(list(video_tokens(model, processor, items))), whole)


def test_the_towers_learn_the_skill_items_attributes_beside_their_cues(tiny, data, tmp_path):
    from emoomni.data import synthbench

    root, samples = data
    plans = [synthbench.plan(i, seed=7) for i in range(40)]
    synthbench.generate(tmp_path / "skills", 40, seed=7)
    s = EncoderSettings(audio_steps=80, batch_size=16, learning_rate=3e-3, holdout=0.25, skills=("audio",))
    out = pretrain_encoders(tiny, samples, root, tmp_path / "enc", s, skills=plans, skills_root=tmp_path / "skills")
    probes = json.loads((out / "encoders.json").read_text())["probes"]
    assert set(probes) == {"audio", "audio skills"}  # no vision steps: the pictures' skills are not learned
    skills = probes["audio skills"]
    assert skills["n_train"] == 30 and skills["n_held_out"] == 10
    assert set(skills["held_out_accuracy"]["mean"]) == set(synthbench.SOUND_HEADS)
    assert skills["final_loss"] < len(s.probes) * 2.0  # from about 2 x (log 4 + log 4 + log 10 + log 18) = 16.6
    assert skills["held_out_accuracy"]["mean"]["kind"] > 0.5  # chance is 1/4
    before, after = weights(tiny), weights(out)
    assert all(k.startswith("audio_tower.") for k in before if not (before[k] == after[k]).all())
    with pytest.raises(ValueError, match="at least 10 items"):
        pretrain_encoders(tiny, samples, root, tmp_path / "enc2", s, skills=plans[:5], skills_root=tmp_path / "skills")


def test_the_skills_weight_scales_only_the_skills_loss():
    """A weight of 0 leaves the skills' probes untrained while the cue is learned as before."""
    from types import SimpleNamespace

    import torch

    from emoomni.train.encoders import Task, train_tower

    def run(weight: float) -> dict:
        torch.manual_seed(0)
        layer = torch.nn.Linear(4, 8)
        model = SimpleNamespace(config=SimpleNamespace(text_config=SimpleNamespace(hidden_size=8)),
                                model=SimpleNamespace(audio_tower=layer))
        x = torch.randn(64, 3, 4)
        cue = (x[:, :, 0].mean(1) > 0).long()[:, None]
        skill = (x[:, :, 1].mean(1) > 0).long()[:, None]
        tokens = lambda items: [layer(i) for i in items]  # noqa: E731
        tasks = {"cue": Task(x[:48], cue[:48], {"cue": 2}, x[48:], cue[48:], tokens),
                 "skills": Task(x[:48], skill[:48], {"sign": 2}, x[48:], skill[48:], tokens)}
        s = EncoderSettings(audio_steps=60, batch_size=16, learning_rate=0.05, skills_weight=weight)
        return train_tower(model, "audio", tasks, 60, s)

    full, none = run(1.0), run(0.0)
    assert full["cue"]["final_loss"] < 0.4 * len(EncoderSettings().probes) and none["cue"]["final_loss"] < 0.4 * 2
    assert full["skills"]["final_loss"] < 0.4 * 2 < none["skills"]["final_loss"]  # untrained probes stay near 2 x log 2
