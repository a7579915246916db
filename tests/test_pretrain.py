"""Description pre-training of the tiny base: the targets, a full-parameter update, the saved model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from emoomni.data.synthemo import generate
from emoomni.data.synthemo.design import CLASSES
from emoomni.model import load_omni
from emoomni.train.encoders import EncoderSettings
from emoomni.extract.descriptions import PHRASES, TEMPLATES, describe
from emoomni.train.pretrain import (FACE_INSTRUCTIONS, INSTRUCTIONS, LANGUAGE_INSTRUCTIONS, VOICE_INSTRUCTIONS,
                                    PretrainSettings, description_messages, language_rows, pretrain_base,
                                    single_messages, skill_rows)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("synthemo")
    return root, generate(root, 12, seed=0)


def test_descriptions_cover_every_cue_in_every_style():
    for modality, table in PHRASES.items():
        assert set(table) == set(CLASSES), modality
    assert len(TEMPLATES) == len(INSTRUCTIONS) == 3
    for style in range(3):
        texts = {describe({"vision": c, "audio": c, "text": c}, style) for c in CLASSES}
        assert len(texts) == len(CLASSES)  # every cue is told apart
        for text in texts:
            assert "<" not in text and "[" not in text and text.endswith(".")
    with pytest.raises(ValueError, match="no description"):
        describe({"vision": "bored", "audio": "sad", "text": "sad"}, 0)


def test_description_chat_is_not_the_recognition_task(data):
    root, samples = data
    for s in samples:
        messages = description_messages(s, root)
        assert [m["role"] for m in messages] == ["system", "user", "assistant"]
        user = messages[1]["content"]
        assert [c["type"] for c in user] == ["video", "text"] and user[0]["audio_in_video"] is True
        text = user[-1]["text"]
        assert text.startswith("<transcript>") and text.splitlines()[-1] in INSTRUCTIONS
        assert "Candidate" not in text and "emotion" not in text.lower()
        answer = messages[2]["content"][0]["text"]
        assert answer == describe(s.meta["cues"], INSTRUCTIONS.index(text.splitlines()[-1]), s.transcript)
        assert "<answer>" not in answer and "[vision]" not in answer


def test_one_modality_rows_show_only_that_modality_and_describe_only_its_cue(data):
    root, samples = data
    for s in samples:
        face = single_messages(s, root, "vision")
        user, answer = face[1]["content"], face[2]["content"][0]["text"]
        assert [c["type"] for c in user] == ["video", "text"] and user[0]["audio_in_video"] is False
        assert user[1]["text"] in FACE_INSTRUCTIONS and "<transcript>" not in user[1]["text"]
        style = FACE_INSTRUCTIONS.index(user[1]["text"])
        assert answer == describe(s.meta["cues"], style, s.transcript).splitlines()[0]
        voice = single_messages(s, root, "audio", cue="angry")
        user, answer = voice[1]["content"], voice[2]["content"][0]["text"]
        assert [c["type"] for c in user] == ["audio", "text"] and user[0]["audio"] == str(root / s.video)
        assert user[1]["text"] == VOICE_INSTRUCTIONS[style]  # the style is the clip's, whatever the modality
        assert answer == describe({**s.meta["cues"], "audio": "angry"}, style, s.transcript).splitlines()[1]
    with pytest.raises(ValueError, match="not 'text'"):
        single_messages(samples[0], root, "text")


def test_a_voice_clip_s_row_plays_its_sound_file_and_describes_its_voice(tmp_path):
    from emoomni.data.synthemo.voices import voice_clips

    clip = voice_clips(tmp_path, 3, seed=0)[2]
    messages = single_messages(clip, tmp_path, "audio")
    user, answer = messages[1]["content"], messages[2]["content"][0]["text"]
    assert [c["type"] for c in user] == ["audio", "text"] and user[0]["audio"] == str(tmp_path / clip.audio)
    style = VOICE_INSTRUCTIONS.index(user[1]["text"])
    assert answer == describe({"vision": "neutral", "audio": "sad", "text": "neutral"}, style).splitlines()[1]


def test_two_pretraining_steps_update_the_whole_model_and_it_reloads(tiny, data, tmp_path):
    root, samples = data
    pre = [s for s in samples if s.split == "pretrain"]
    assert len(pre) >= 2
    settings = PretrainSettings(max_steps=2, per_device_batch_size=2, learning_rate=1e-3, warmup=0.0,
                                save_steps=100, logging_steps=1)
    out = pretrain_base(tiny, samples, root, tmp_path / "pre", settings)
    assert out == tmp_path / "pre" / "model"
    names = {p.name for p in out.iterdir()}
    assert "model.safetensors" in names and not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    meta = json.loads((out / "emoomni_pretrain.json").read_text())
    assert meta["global_step"] == 2 and set(meta["train_ids"]) == {s.id for s in pre}
    trained, _ = load_omni(out)
    base, _ = load_omni(tiny)
    new, old = dict(trained.named_parameters()), dict(base.named_parameters())
    assert new.keys() == old.keys()
    for part in ("model.audio_tower.", "model.visual.", "model.language_model.", "lm_head."):
        names = [n for n in old if n.startswith(part)]
        changed = [n for n in names if not torch.equal(new[n], old[n])]
        assert len(changed) >= 0.8 * len(names), (part, len(changed), len(names))
    assert trained.generation_config.suppress_tokens == base.generation_config.suppress_tokens
    # a finished run with the same settings and data is reused, not retrained
    mtime = (out / "model.safetensors").stat().st_mtime_ns
    assert pretrain_base(tiny, samples, root, tmp_path / "pre", settings) == out
    assert (out / "model.safetensors").stat().st_mtime_ns == mtime


def test_the_language_phase_comes_first_and_the_descriptions_continue_from_it(tiny, data, tmp_path):
    root, samples = data
    settings = PretrainSettings(max_steps=1, per_device_batch_size=2, learning_rate=1e-3, warmup=0.0, save_steps=100,
                                logging_steps=1, language_samples=4, language_batch_size=2, language_replay=2)
    out = pretrain_base(tiny, samples, root, tmp_path / "pre", settings)
    language = tmp_path / "pre" / "language" / "model"
    first = json.loads((language / "emoomni_pretrain.json").read_text())
    assert first["global_step"] == 2 and first["train_ids"] == [f"language-{i:05d}" for i in range(4)]
    assert first["base_model"] == str(Path(tiny).resolve())
    meta = json.loads((out / "emoomni_pretrain.json").read_text())
    assert meta["base_model"] == str(language.resolve()) and meta["global_step"] == 1
    assert [i for i in meta["train_ids"] if i.startswith("language-")] == ["language-00004", "language-00005"]


def test_one_modality_rows_join_the_descriptions_when_asked(tiny, data, tmp_path):
    root, samples = data
    settings = PretrainSettings(max_steps=1, per_device_batch_size=2, learning_rate=1e-3, warmup=0.0, save_steps=100,
                                single_rows=True, encoders=EncoderSettings(faces=6, frames=4))
    out = pretrain_base(tiny, samples, root, tmp_path / "pre", settings)
    ids = json.loads((out / "emoomni_pretrain.json").read_text())["train_ids"]
    pre = [s.id for s in samples if s.split == "pretrain"]
    assert ids == pre + [f"face-{i:05d}/face" for i in range(6)] + [f"{i}/voice" for i in pre]
    assert len(list((tmp_path / "pre").glob("faces-*/face-*.mp4"))) == 6 + 0  # faces // 10 held out: none of 6


@pytest.mark.parametrize("questions", [0, 4])
def test_only_the_asked_number_of_skill_items_join_the_descriptions(tiny, data, tmp_path, questions):
    root, samples = data
    settings = PretrainSettings(max_steps=1, per_device_batch_size=2, learning_rate=1e-3, warmup=0.0, save_steps=100,
                                skill_items=6, skill_seed=7, skill_questions=questions)
    out = pretrain_base(tiny, samples, root, tmp_path / "pre", settings)
    ids = json.loads((out / "emoomni_pretrain.json").read_text())["train_ids"]
    assert [i for i in ids if i.startswith("skill/")] == [f"skill/7/omnibench-{i}" for i in range(questions)]
    assert len(skill_rows(tmp_path / "pre" / "skills-s7-n6", 6, 7)) == 6  # every item is generated all the same
    with pytest.raises(ValueError, match="skill_questions must lie between 0 and skill_items"):
        pretrain_base(tiny, samples, root, tmp_path / "other", replace(settings, skill_questions=7))


def test_general_questions_join_the_descriptions_answered_by_letter_and_unlike_the_benchmark(tiny, data, tmp_path):
    from emoomni.data import synthbench

    root, samples = data
    settings = PretrainSettings(max_steps=1, per_device_batch_size=2, learning_rate=1e-3, warmup=0.0, save_steps=100,
                                skill_items=10, skill_seed=7)
    out = pretrain_base(tiny, samples, root, tmp_path / "pre", settings)
    ids = json.loads((out / "emoomni_pretrain.json").read_text())["train_ids"]
    assert ids[-10:] == [f"skill/7/omnibench-{i}" for i in range(10)]
    rows = skill_rows(tmp_path / "pre" / "skills-s7-n10", 10, 7)  # read back, not generated again
    plans = [synthbench.plan(i, 7) for i in range(10)]
    assert [json.loads(r["messages"])[-1]["content"][0]["text"] for r in rows] == [
        "ABCD"[p.options.index(p.answer)] for p in plans]
    options = skill_rows(tmp_path / "pre" / "skills-s7-n10", 10, 7, answer="option")
    assert [json.loads(r["messages"])[-1]["content"][0]["text"] for r in options] == [p.answer for p in plans]
    with pytest.raises(ValueError, match="'letter' or 'option'"):
        skill_rows(tmp_path / "pre" / "skills-s7-n10", 10, 7, answer="word")
    content = lambda p: (p.question, p.answer, p.shapes, p.clip)  # noqa: E731
    bench = [content(synthbench.plan(i, 0)) for i in range(100)]
    assert not any(content(p) in bench for p in plans)


def test_the_skill_phase_continues_the_descriptions_with_frozen_towers(tiny, data, tmp_path):
    root, samples = data
    settings = PretrainSettings(max_steps=1, per_device_batch_size=2, learning_rate=1e-3, warmup=0.0, save_steps=100,
                                skill_items=4, skill_seed=7, skill_questions=0,
                                skill_phase_epochs=1.0, skill_phase_learning_rate=1e-2, skill_phase_replay=2)
    out = pretrain_base(tiny, samples, root, tmp_path / "pre", settings)
    described = tmp_path / "pre" / "model"
    assert out == tmp_path / "pre" / settings.skill_phase_dir() / "model"
    meta = json.loads((out / "emoomni_pretrain.json").read_text())
    pre = [s.id for s in samples if s.split == "pretrain"]
    assert meta["base_model"] == str(described.resolve()) and meta["global_step"] == 3
    assert meta["train_ids"] == [f"skill/7/omnibench-{i}" for i in range(4)] + pre[:2]
    assert meta["settings"]["learning_rate"] == 1e-2
    assert "skill_phase_epochs" not in json.loads((described / "emoomni_pretrain.json").read_text())["settings"]
    new, old = (dict(load_omni(m)[0].named_parameters()) for m in (out, described))
    for part, moved in (("model.audio_tower.", False), ("model.visual.", False), ("model.language_model.", True)):
        changed = [n for n in old if n.startswith(part) and not torch.equal(new[n], old[n])]
        assert bool(changed) == moved, part
    with pytest.raises(ValueError, match="skill_phase_epochs needs skill_items"):
        pretrain_base(tiny, samples, root, tmp_path / "other", replace(settings, skill_items=0, skill_questions=None))


def test_language_rows_quote_the_delimited_words_and_name_their_emotion():
    rows = language_rows(18, seed=3)
    assert rows[:5] == language_rows(5, seed=3) and rows != language_rows(18, seed=4)
    pairs = set()
    for i, row in enumerate(rows):
        system, user, assistant = json.loads(row["messages"])
        assert [c["type"] for c in user["content"]] == ["text"]  # no media: the language alone
        opening, words, closing, request = user["content"][0]["text"].split("\n")
        assert (opening, closing) == ("<transcript>", "</transcript>") and request in LANGUAGE_INSTRUCTIONS
        answer = assistant["content"][0]["text"]
        style = LANGUAGE_INSTRUCTIONS.index(request)
        assert answer == describe({"vision": "neutral", "audio": "neutral", "text": CLASSES[i % 6]}, style,
                                  words).splitlines()[-1]
        assert answer.startswith(f'The speaker says: "{words}"')
        pairs.add((request, CLASSES[i % 6]))
    assert len(pairs) == 18  # every request with every emotion: the request never gives the emotion away


def test_pretraining_refuses_an_empty_split(tiny, data, tmp_path):
    root, samples = data
    with pytest.raises(ValueError, match="no samples in split"):
        pretrain_base(tiny, samples, root, tmp_path, replace(PretrainSettings(), split="nope"))


def test_cue_recognition_scores_each_candidate_description_exactly(omni, data):
    from emoomni.model import assistant_labels, omni_inputs
    from emoomni.train.pretrain import cue_recognition, description_scores

    model, processor = omni
    root, samples = data
    sample = next(s for s in samples if s.split == "test")
    batched = description_scores(model, processor, sample, root, "vision")
    single = description_scores(model, processor, sample, root, "vision", batch_size=1)
    assert list(batched) == list(CLASSES)
    for cue in CLASSES:  # right padding inside a batch changes nothing
        assert batched[cue] == pytest.approx(single[cue], abs=1e-3)
    # the clip's own description: minus the mean token loss times the number of answer tokens
    chat = description_messages(sample, root)
    inputs = omni_inputs(processor, [chat], add_generation_prompt=False, padding_side="right")
    labels = assistant_labels(processor, inputs["input_ids"])
    with torch.no_grad():
        loss = model(**inputs, labels=labels).loss
    own = sample.meta["cues"]["vision"]
    assert batched[own] == pytest.approx(-loss.item() * int((labels[:, 1:] != -100).sum()), rel=1e-4)
    assert len(set(round(v, 3) for v in batched.values())) > 1  # the candidates differ
    clips = [s for s in samples if s.split == "test"][:2]
    result = cue_recognition(model, processor, clips, root)
    assert set(result) == {"vision", "audio", "text"}
    for modality, r in result.items():
        readings = [max(sc, key=sc.__getitem__) for sc in
                    (description_scores(model, processor, c, root, modality) for c in clips)]
        expected = sum(x == c.meta["cues"][modality] for x, c in zip(readings, clips)) / len(clips)
        assert {k: r[k] for k in ("accuracy", "n", "chance")} == {"accuracy": expected, "n": 2, "chance": 1 / len(CLASSES)}
        for x, c in zip(readings, clips):  # each reading counted in the designed cue's row
            assert r["confusion"][c.meta["cues"][modality]][x] >= 1
        assert sum(sum(row.values()) for row in r["confusion"].values()) == 2
