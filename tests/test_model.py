"""The tiny Qwen2.5-Omni thinker, guided tokens, chat formatting and model inputs on real SynthEmo clips."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from emoomni.data.manifest import Sample
from emoomni.data.synthemo import generate
from emoomni.pretrained import ModelNotFoundError
from emoomni.labels import label_set
from emoomni.model import (add_guided_tokens, assistant_labels, build_tiny_omni, chat_messages, decode,
                           guided_token_ids, load_omni, omni_inputs, placeholder_ids)
from emoomni.model.tiny_thinker import omni_config, omni_processor, omni_tokenizer
from emoomni.omnicot import GUIDED_TOKENS, OmniCoT, render

LABELS = label_set("synthemo").labels


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Sample]]:
    """Six real SynthEmo clips plus a silent copy and a speech wav of one of them."""
    root = tmp_path_factory.mktemp("synthemo")
    samples = generate(root, 6, seed=0)
    src = str(root / samples[2].video)
    run = ["ffmpeg", "-v", "error", "-y", "-i", src]
    subprocess.run(run + ["-an", "-c:v", "copy", str(root / "clips" / "silent.mp4")], check=True)
    subprocess.run(run + ["-vn", "-ac", "1", "-ar", "16000", str(root / "clips" / "speech.wav")], check=True)
    return root, samples


def kinds(root: Path, samples: list[Sample]) -> dict[str, Sample]:
    """One sample per media case: audio in video, silent video + separate audio, silent video, audio only."""
    s = samples
    return {
        "aiv": s[0],
        "separate": replace(s[2], id="sep", video="clips/silent.mp4", audio="clips/speech.wav", meta={}),
        "silent": replace(s[3], id="mute", video="clips/silent.mp4", audio=None, meta={}),
        "audio": replace(s[1], id="aud", video=None, audio="clips/speech.wav", meta={}),
    }


def test_tiny_model_is_small_safetensors_and_deterministic(tiny, tmp_path):
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    files = {p.name for p in tiny.iterdir()}
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt", ".pth")) for f in files)
    assert (tiny / "model.safetensors").stat().st_size < 16_000_000
    model, _ = load_omni(tiny)
    assert type(model) is Qwen2_5OmniThinkerForConditionalGeneration and not model.training
    assert 1_000_000 < sum(p.numel() for p in model.parameters()) < 4_000_000
    a = load_file(tiny / "model.safetensors")
    assert "lm_head.weight" in a  # untied
    b = load_file(build_tiny_omni(tmp_path / "again") / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    c = load_file(build_tiny_omni(tmp_path / "other", seed=1) / "model.safetensors")
    assert not torch.equal(a["lm_head.weight"], c["lm_head.weight"])


def test_the_vision_tower_can_be_built_wider(tmp_path):
    config = load_omni(build_tiny_omni(tmp_path / "wide", vision_width=96))[0].config.vision_config
    assert (config.hidden_size, config.intermediate_size, config.num_heads, config.out_hidden_size) == (96, 192, 3, 256)
    with pytest.raises(ValueError, match="multiple of 32"):
        build_tiny_omni(tmp_path / "odd", vision_width=80)


def test_save_load_round_trip_gives_identical_logits(omni, data, tmp_path):
    model, processor = omni
    root, samples = data
    inputs = omni_inputs(processor, [chat_messages(samples[0], LABELS, root)], add_generation_prompt=True)
    model.save_pretrained(tmp_path / "copy")
    processor.save_pretrained(tmp_path / "copy")
    again, processor2 = load_omni(tmp_path / "copy")
    inputs2 = omni_inputs(processor2, [chat_messages(samples[0], LABELS, root)], add_generation_prompt=True)
    assert torch.equal(inputs["input_ids"], inputs2["input_ids"])
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, again(**inputs2).logits)
    assert again.generation_config.suppress_tokens == model.generation_config.suppress_tokens


def test_guided_tokens_are_single_special_ids_that_decode_back(omni):
    model, processor = omni
    tok = processor.tokenizer
    ids = guided_token_ids(processor)
    assert list(ids) == list(GUIDED_TOKENS) and len(set(ids.values())) == 4
    for token, i in ids.items():
        assert tok.encode(token, add_special_tokens=False) == [i]
        assert tok.decode([i]) == token
        assert i < model.get_input_embeddings().weight.shape[0] and i < model.lm_head.weight.shape[0]
    trace = render(OmniCoT("A smile.", "Loud voice.", "I won!", "Cues agree.", "happy"))
    enc = tok.encode(trace, add_special_tokens=False)
    assert all(enc.count(i) == 1 for i in ids.values())
    assert decode(processor, enc + [tok.convert_tokens_to_ids("<|im_end|>")]) == [trace]
    before = model.get_input_embeddings().weight.clone()
    assert add_guided_tokens(model, processor) == ids and len(tok) == before.shape[0]  # idempotent
    assert torch.equal(model.get_input_embeddings().weight, before)


@pytest.mark.parametrize("padded", [False, True])
def test_add_guided_tokens_initialises_new_rows_deterministically(padded):
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    rows = []
    for _ in range(2):
        tok = omni_tokenizer()
        processor = omni_processor(tok)
        config = omni_config(tok)
        if padded:  # like the 7B, whose vocabulary has spare rows past the tokenizer
            config.text_config.vocab_size = len(tok) + 16
        torch.manual_seed(0)
        model = Qwen2_5OmniThinkerForConditionalGeneration(config)
        n = model.get_input_embeddings().weight.shape[0]
        ids = add_guided_tokens(model, processor)
        emb, head = model.get_input_embeddings().weight, model.lm_head.weight
        assert emb.shape[0] == head.shape[0] == (n if padded else len(tok))
        new = sorted(ids.values())
        old = emb[: new[0]]
        assert torch.allclose(emb[new], old.mean(0).expand(4, -1), atol=0.05 * old.std().item())
        assert not torch.equal(emb[new[0]], emb[new[1]]) and not torch.equal(emb[new], head[new])
        rows.append((emb[new].clone(), head[new].clone()))
    assert all(torch.equal(a, b) for a, b in zip(*rows))


def test_chat_messages_cover_the_media_cases_and_the_transcript_flag(data):
    root, samples = data
    k = kinds(root, samples)
    items = {name: chat_messages(s, LABELS, root)[1]["content"] for name, s in k.items()}
    assert items["aiv"][0] == {"type": "video", "video": str(root / samples[0].video), "audio_in_video": True}
    assert [c["type"] for c in items["aiv"]] == ["video", "text"]
    assert [(c["type"], c.get("audio_in_video")) for c in items["separate"]] == [
        ("video", False), ("audio", None), ("text", None)]
    assert items["separate"][1]["audio"] == str(root / "clips" / "speech.wav")
    assert [(c["type"], c.get("audio_in_video")) for c in items["silent"]] == [("video", False), ("text", None)]
    assert [c["type"] for c in items["audio"]] == ["audio", "text"]
    # without meta, a probe of the video decides
    assert chat_messages(replace(samples[0], meta={}), LABELS, root)[1]["content"][0]["audio_in_video"] is True
    text = items["aiv"][-1]["text"]
    assert text.startswith("<transcript>\n" + samples[0].transcript) and text.endswith(", ".join(LABELS) + ".")
    bare = chat_messages(samples[0], LABELS, root, include_transcript=False)[1]["content"][-1]["text"]
    assert "<transcript>" not in bare and text.endswith(bare)
    full = chat_messages(samples[0], LABELS, root, assistant_text="<answer>happy</answer>")
    assert [m["role"] for m in full] == ["system", "user", "assistant"]
    assert full[-1]["content"] == [{"type": "text", "text": "<answer>happy</answer>"}]
    assert [m["role"] for m in chat_messages(samples[0], LABELS, root, system=None)] == ["user"]
    with pytest.raises(ValueError, match="neither"):
        chat_messages(replace(samples[0], video=None), LABELS, root)


def test_chat_template_dispatches_on_type_only(omni):
    _, processor = omni
    filled = [{"role": "user", "content": [  # as Hugging Face datasets stores them: every key on every item
        {"type": "video", "video": "v.mp4", "audio": None, "text": None},
        {"type": "text", "text": "hi", "video": None, "audio": None}]}]
    text = processor.apply_chat_template(filled, tokenize=False, add_generation_prompt=True)
    assert text.count("<|VIDEO|>") == 1 and "<|AUDIO|>" not in text and text.endswith("<|im_start|>assistant\n")


def test_omni_inputs_pads_left_and_counts_media_tokens(omni, data):
    _, processor = omni
    root, samples = data
    k = kinds(root, samples)
    inputs = omni_inputs(processor, [chat_messages(k["aiv"], LABELS, root), chat_messages(k["audio"], LABELS, root)],
                         add_generation_prompt=True)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    assert mask[:, -1].tolist() == [1, 1] and mask[0].all() and not mask[1, 0]
    pad = int((mask[1] == 0).sum())
    assert (ids[1, :pad] == processor.tokenizer.pad_token_id).all() and mask[1, pad:].all()
    assert (ids == processor.video_token_id).sum(-1).tolist() == [64, 0]  # 8 frames of 112 px: 4 x 4 x 4
    audio = (ids == processor.audio_token_id).sum(-1).tolist()
    assert audio[0] == audio[1] and 45 <= audio[0] <= 55  # about 25 tokens per second
    assert inputs["video_grid_thw"].tolist() == [[4, 8, 8]] and inputs["video_second_per_grid"].tolist() == [0.5]
    assert inputs["input_features"].shape[:2] == (2, 128) and inputs["use_audio_in_video"] is True
    assert "position_ids" not in inputs
    slow = omni_inputs(processor, [chat_messages(k["silent"], LABELS, root)], True, fps=2.0, size=56)
    assert slow["video_grid_thw"].tolist() == [[2, 4, 4]] and slow["use_audio_in_video"] is False


def test_audio_padded_to_the_longest_clip_gives_the_30_s_outputs(omni, data, monkeypatch):
    import emoomni.model.inputs as inputs_module

    model, processor = omni
    root, samples = data
    chats = [chat_messages(s, LABELS, root) for s in kinds(root, samples).values()]
    short = omni_inputs(processor, chats, add_generation_prompt=True)
    monkeypatch.setattr(inputs_module, "_audio_pad_length", lambda proc, audios: proc.feature_extractor.n_samples)
    full = omni_inputs(processor, chats, add_generation_prompt=True)
    assert full["input_features"].shape[-1] == 3000 and short["input_features"].shape[-1] <= 500
    assert torch.equal(short["input_ids"], full["input_ids"])
    with torch.no_grad():
        assert torch.allclose(model(**short).logits, model(**full).logits, atol=1e-5)


def test_generate_on_clips_never_emits_placeholders(omni, data):
    model, processor = omni
    root, samples = data
    k = kinds(root, samples)
    banned = placeholder_ids(processor)
    assert len(banned) == 7 and set(banned) <= set(model.generation_config.suppress_tokens)
    assert not set(guided_token_ids(processor).values()) & set(banned)
    inputs = omni_inputs(processor, [chat_messages(k["aiv"], LABELS, root), chat_messages(k["audio"], LABELS, root)],
                         add_generation_prompt=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=12, min_new_tokens=12)
    new = out[:, inputs["input_ids"].shape[1]:]
    assert new.shape == (2, 12) and not torch.isin(new, torch.tensor(banned)).any()
    assert all(isinstance(t, str) for t in decode(processor, new))


def test_mixed_batch_matches_samples_run_alone(omni, data):
    model, processor = omni
    root, samples = data
    chats = [chat_messages(s, LABELS, root) for s in kinds(root, samples).values()]
    batch = omni_inputs(processor, chats, add_generation_prompt=True)
    assert batch["position_ids"].shape == (3, 4, batch["input_ids"].shape[1])  # one rope flag per sample
    with torch.no_grad():
        last = model(**batch).logits[:, -1]
        gen = model.generate(**batch, max_new_tokens=4)[:, batch["input_ids"].shape[1]:]
        for i, chat in enumerate(chats):
            one = omni_inputs(processor, [chat], add_generation_prompt=True)
            assert torch.allclose(model(**one).logits[0, -1], last[i], atol=1e-5)
            assert torch.equal(model.generate(**one, max_new_tokens=4)[0, one["input_ids"].shape[1]:], gen[i])


def test_forward_with_labels_reaches_the_audio_and_vision_encoders(omni, data):
    model, processor = omni
    root, samples = data
    k = kinds(root, samples)
    answer = render(OmniCoT("A smile.", "Loud voice.", "I won!", "Cues agree.", "happy"))
    chats = [chat_messages(s, LABELS, root, assistant_text=answer) for s in (k["aiv"], k["separate"])]
    inputs = omni_inputs(processor, chats, add_generation_prompt=False)
    labels = assistant_labels(processor, inputs["input_ids"])
    target = processor.tokenizer.encode(answer + "<|im_end|>", add_special_tokens=False)
    assert [row[row != -100].tolist() for row in labels] == [target, target]
    model.zero_grad()
    loss = model(**inputs, labels=labels).loss
    assert torch.isfinite(loss)
    loss.backward()
    for tower in (model.model.audio_tower, model.model.visual):
        grads = [p.grad for p in tower.parameters() if p.grad is not None]
        assert grads and sum(g.abs().sum() for g in grads) > 0
    model.zero_grad()


def test_load_omni_fails_clearly_for_a_missing_model(tmp_path):
    with pytest.raises(ModelNotFoundError):
        load_omni(tmp_path / "no-such-model")
    with pytest.raises(ModelNotFoundError, match="Qwen2.5-Omni-7B"):
        load_omni("Qwen/Qwen2.5-Omni-7B")  # offline in tests and not in the cache
