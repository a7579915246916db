"""Encoder pre-training: the towers learn their cues with a throw-away probe; nothing else moves; the result is cached."""

import json
import math

import pytest
from safetensors.torch import load_file

from emoomni import ledger
from emoomni.data.synthemo import generate
from emoomni.train.encoders import EncoderSettings, pretrain_encoders, render_faces

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("synthemo")
    return root, generate(root, 12, seed=0)


def weights(model_dir) -> dict:
    return load_file(str(model_dir / "model.safetensors"))


def test_rendered_faces_are_two_apex_frames_of_every_class():
    clips, labels = render_faces(24, 112, seed=3)
    assert clips[0].shape == (2, 112, 112, 3) and clips[0].dtype.name == "uint8"
    assert set(labels) == set(range(6))
    again, same = render_faces(24, 112, seed=3)
    assert same == labels and all((a == b).all() for a, b in zip(clips, again))


def test_the_vision_phase_reads_unseen_faces_above_chance_and_moves_only_the_vision_tower(tiny, data, tmp_path):
    root, samples = data
    s = EncoderSettings(vision_steps=150, faces=600, learning_rate=2e-3)
    out = pretrain_encoders(tiny, samples, root, tmp_path / "enc", s)
    probe = json.loads((out / "encoders.json").read_text())["probes"]["vision"]
    assert probe["final_loss"] < math.log(6) - 0.3  # it learned something
    assert probe["held_out_accuracy"] > 0.35 and probe["n_held_out"] == 60  # chance is 1/6
    before, after = weights(tiny), weights(out)
    moved = {k for k in before if not (before[k] == after[k]).all()}
    assert moved and all(k.startswith("visual.") for k in moved)  # no audio or language weight changed
    assert any(k.startswith("visual.blocks.") for k in moved)
    ledger.clear()
    assert pretrain_encoders(tiny, samples, root, tmp_path / "enc", s) == out
    assert [e.outcome for e in ledger.entries()] == ["reused"]


def test_the_audio_phase_moves_only_the_audio_tower(tiny, data, tmp_path):
    root, samples = data
    s = EncoderSettings(audio_steps=3, batch_size=4, holdout=0.0)
    out = pretrain_encoders(tiny, samples, root, tmp_path / "enc", s)
    before, after = weights(tiny), weights(out)
    moved = {k for k in before if not (before[k] == after[k]).all()}
    assert moved and all(k.startswith("audio_tower.") for k in moved)
    with pytest.raises(ValueError, match="no 'nowhere' clips"):
        pretrain_encoders(tiny, samples, root, tmp_path / "none", s, split="nowhere")
