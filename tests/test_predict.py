"""Exact guided-token statistics and p* against a plain full-logits forward; batched, resumable prediction."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from emoomni.data.manifest import Sample
from emoomni.data.synthemo import generate
from emoomni.evaluate import (Prediction, answer_probs, completion_stats, guided_stats, p_star, predict,
                              read_predictions)
from emoomni.model.guided_stats import answer_slot, extend_position_ids
from emoomni.labels import extract_answer, label_set
from emoomni.model import chat_messages, decode, guided_token_ids, load_omni, omni_inputs
from emoomni.omnicot import OmniCoT, render

LS = label_set("synthemo")
LABELS = LS.labels
TOL = 1e-5
MAX_NEW = 24


@pytest.fixture(scope="module")
def emitter(tiny: Path, data):
    """A copy whose [vision] / [audio] lm_head rows outbid the two tokens the random model loops on most, so
    greedy decoding emits the guided tokens (repeatedly, which exercises the first-occurrence rule)."""
    model, processor = load_omni(tiny)
    root, samples = data
    ids = guided_token_ids(processor)
    inputs = omni_inputs(processor, [chat_messages(s, LABELS, root) for s in samples[:4]], True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=MAX_NEW)[:, inputs["input_ids"].shape[1]:].flatten().tolist()
    common = sorted(set(out), key=lambda t: -out.count(t))
    with torch.no_grad():
        for token, donor in zip(("[vision]", "[audio]"), common[:2]):
            model.lm_head.weight[ids[token]] = 1.05 * model.lm_head.weight[donor]
    return model, processor


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Sample]]:
    """Eight SynthEmo clips; two are shown as plain video (no audio-in-video) to mix the rotary layouts."""
    root = tmp_path_factory.mktemp("synthemo")
    samples = [s for s in generate(root, 8, seed=0) if s.label]  # pre-training clips may have none
    for i in (2, 5):
        samples[i] = replace(samples[i], meta={**samples[i].meta, "audio_in_video": False})
    return root, samples


def tokenize(processor, text: str, end: bool = True) -> list[int]:
    tok = processor.tokenizer
    return tok.encode(text, add_special_tokens=False) + ([tok.convert_tokens_to_ids("<|im_end|>")] if end else [])


def pad_right(rows: list[list[int]], pad: int) -> torch.Tensor:
    out = torch.full((len(rows), max(map(len, rows))), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r)
    return out


def full_logits(model, processor, sample: Sample, root: Path, assistant_text: str) -> tuple[torch.Tensor, int, list]:
    """Reference: a plain forward over the chat with the assistant text: float32 logits, prompt length, ids."""
    prompt = omni_inputs(processor, [chat_messages(sample, LABELS, root)], add_generation_prompt=True)
    full = omni_inputs(processor, [chat_messages(sample, LABELS, root, assistant_text=assistant_text)],
                       add_generation_prompt=False)
    t = prompt["input_ids"].shape[1]
    assert torch.equal(full["input_ids"][0, :t], prompt["input_ids"][0])
    with torch.no_grad():
        return model(**full).logits[0].float(), t, full["input_ids"][0].tolist()


def reference_stats(logits: torch.Tensor, t: int, completion: list[int], token: int) -> dict | None:
    """H and p at the first occurrence of ``token`` in ``completion``, from full logits."""
    if token not in completion:
        return None
    j = completion.index(token)
    logp = logits[t + j - 1].log_softmax(-1)
    return {"entropy": float(-(logp.exp() * logp).sum()), "prob": float(logp[token].exp())}


def reference_site_stats(logits: torch.Tensor, t: int, completion: list[int], token: int, site: str,
                         guided: set[int], tokenizer, stopped: bool = True) -> dict | None:
    """H at an entropy site and p of the first ``token`` in ``completion`` (stop excluded), from full logits.

    Written from the definitions, not the library's index helper: ``following`` is the distribution at
    the guided token's own position; ``section`` averages those producing the tokens after it, up to
    the next guided token or the ``</`` token that opens ``</think>``, else the completion's end.
    """
    if token not in completion:
        return None
    j = completion.index(token)

    def entropy(i: int) -> float:
        logp = logits[t + i - 1].log_softmax(-1)
        return float(-(logp.exp() * logp).sum())

    if site == "emitted":
        idx = [j]
    elif site == "following":
        idx = [j + 1] if j + 1 < len(completion) + int(stopped) else []
    else:
        pieces = [tokenizer.decode([i]) for i in completion]
        end = next((k for k in range(j + 1, len(completion)) if completion[k] in guided
                    or (pieces[k] == "</" and k + 1 < len(pieces) and pieces[k + 1].startswith("think"))),
                   len(completion))
        idx = list(range(j + 1, end))
    if not idx:
        return None
    prob = float(logits[t + j - 1].log_softmax(-1)[token].exp())
    return {"entropy": sum(entropy(i) for i in idx) / len(idx), "prob": prob}


def close(a: dict | None, b: dict | None) -> float:
    """Largest absolute difference between two stats dicts (both must be None or both present)."""
    assert (a is None) == (b is None), (a, b)
    return 0.0 if a is None else max(abs(a[k] - b[k]) for k in ("entropy", "prob"))


def test_guided_stats_match_full_logits_first_occurrence_and_none(omni, data):
    model, processor = omni
    root, samples = data
    ids = {k.strip("[]"): v for k, v in guided_token_ids(processor).items()}
    texts = [render(OmniCoT("A wide smile.", "A bright voice.", "I won!", "All cues agree.", "happy")),
             "<think>\n[vision] eyes wide [vision] again [dialogue] no audio here\n</think>\n<answer>sad</answer>",
             "no guided tokens at all"]
    chosen = [samples[0], samples[1], samples[3]]
    comps = [tokenize(processor, t) for t in texts]
    inputs = omni_inputs(processor, [chat_messages(s, LABELS, root) for s in chosen], add_generation_prompt=True)
    assert not inputs["attention_mask"].all()  # real left padding in the batch
    got = guided_stats(model, inputs, pad_right(comps, processor.tokenizer.pad_token_id), ids)
    assert got[1]["audio"] is None and got[1]["analysis"] is None  # missing guided tokens
    assert all(v is None for v in got[2].values())
    worst = 0.0
    for s, text, comp, stats in zip(chosen, texts, comps, got):
        logits, t, full = full_logits(model, processor, s, root, text)
        assert full[t:t + len(comp)] == comp  # the reference sequence is prompt + this completion
        for name, token in ids.items():
            worst = max(worst, close(stats[name], reference_stats(logits, t, comp, token)))
    assert worst < TOL
    # the second [vision] is ignored: first occurrence
    tail = comps[1][comps[1].index(ids["vision"]) + 1:]
    assert ids["vision"] in tail
    # tokens after the stop token are never searched
    stop_first = pad_right([[processor.tokenizer.convert_tokens_to_ids("<|im_end|>")] + comps[0]],
                           processor.tokenizer.pad_token_id)
    one = omni_inputs(processor, [chat_messages(samples[0], LABELS, root)], add_generation_prompt=True)
    assert all(v is None for v in guided_stats(model, one, stop_first, ids)[0].values())


SITE_TEXTS = [
    render(OmniCoT("A wide smile.", "A bright voice.", "I won!", "All cues agree.", "happy")),
    render(OmniCoT("A frown.", "A low voice.", "Leave me.", "All sad.", "sad"), "free", "clip-2"),
    "<think>\n[audio] a low voice\n[vision] a frown\n</think>\n<answer>sad</answer>",  # vision closes at </think>
    "some words [vision]",  # the guided token is the last one before the stop: no section
]


@pytest.mark.parametrize("site", ["emitted", "following", "section"])
def test_every_entropy_site_matches_full_logits(omni, data, site):
    model, processor = omni
    root, samples = data
    tok = processor.tokenizer
    ids = {k.strip("[]"): v for k, v in guided_token_ids(processor).items()}
    assert render(OmniCoT("A frown.", "A low voice.", "Leave me.", "All sad.", "sad"), "free", "clip-2").index(
        "[vision]") > 10  # the free trace does not open with vision
    chosen = samples[:4]
    comps = [tokenize(processor, x) for x in SITE_TEXTS]
    inputs = omni_inputs(processor, [chat_messages(s, LABELS, root) for s in chosen], add_generation_prompt=True)
    padded = pad_right(comps, tok.pad_token_id)
    alone = guided_stats(model, inputs, padded, ids, site=site, tokenizer=tok)
    both, _ = completion_stats(model, inputs, padded, ids, [s.label for s in chosen], tok, site=site)
    worst, seen = 0.0, 0
    for s, text, comp, a, b in zip(chosen, SITE_TEXTS, comps, alone, both):
        logits, t, full = full_logits(model, processor, s, root, text)
        assert full[t:t + len(comp)] == comp
        for name, token in ids.items():
            ref = reference_site_stats(logits, t, comp[:-1], token, site, set(ids.values()), tok)
            worst = max(worst, close(a[name], ref), close(b[name], ref))
            seen += ref is not None
    assert worst < TOL and seen >= 9
    if site == "section":
        assert alone[3]["vision"] is None and alone[2]["vision"] is not None
    else:
        assert alone[3]["vision"] is not None  # following: the distribution over the stop token
    with pytest.raises(ValueError, match="entropy site"):
        guided_stats(model, inputs, padded, ids, site="anywhere")


def reference_p_star(model, processor, sample: Sample, root: Path, answer_prefix: str, gold: str) -> tuple[float, int]:
    """Log of the product of the gold tokens' probabilities after ``answer_prefix`` (full logits), and their count."""
    logits, t, ids = full_logits(model, processor, sample, root, answer_prefix + gold)
    end = ids.index(processor.tokenizer.convert_tokens_to_ids("<|im_end|>"), t)
    # The gold tokens: those of the joint encoding whose characters reach into the gold text.
    enc = processor.tokenizer(answer_prefix + gold, add_special_tokens=False, return_offsets_mapping=True)
    n_gold = sum(1 for _, stop in enc["offset_mapping"] if stop > len(answer_prefix))
    assert ids[t:end] == enc["input_ids"]
    logp = logits.log_softmax(-1)
    return float(sum(logp[j - 1, ids[j]] for j in range(end - n_gold, end))), n_gold


def test_p_star_matches_full_logits_for_every_answer_slot_case(omni, data):
    model, processor = omni
    root, samples = data
    think = "<think>\n[vision] a frown\n[audio] low voice\n[dialogue] none\n[analysis] sad cues\n</think>"
    cases = [  # (completion text, the answer-slot text the convention must produce, gold)
        (think + "\n<answer>angry</answer>", think + "\n<answer>", "surprised"),  # ">surprised" is one token
        (think + "\nso I say it is sad", think + "\n<answer>", "happy"),  # no <answer>: cut after </think>
        ("it might be sad", "it might be sad\n<answer>", "xylophone"),  # neither tag; a many-token gold
        ("<answer>", "<answer>", "sad"),
    ]
    chosen = [samples[0], samples[1], samples[2], samples[3]]  # samples[2] is a plain video: mixed rope batch
    inputs = omni_inputs(processor, [chat_messages(s, LABELS, root) for s in chosen], add_generation_prompt=True)
    assert "position_ids" in inputs
    comps = pad_right([tokenize(processor, c) for c, _, _ in cases], processor.tokenizer.pad_token_id)
    got = answer_probs(model, inputs, comps, [g for _, _, g in cases], processor.tokenizer)
    worst_p, worst_log = 0.0, 0.0
    for s, (_, prefix, gold), r in zip(chosen, cases, got):
        ref, n_gold = reference_p_star(model, processor, s, root, prefix, gold)
        assert r["n_tokens"] == n_gold
        worst_p = max(worst_p, abs(r["p_star"] - math.exp(ref)))
        worst_log = max(worst_log, abs(r["logp"] - ref) / abs(ref))
        assert math.isclose(r["p_star_mean"], math.exp(ref / r["n_tokens"]), rel_tol=TOL)
    assert worst_p < TOL and worst_log < TOL and got[2]["n_tokens"] > 1
    plain = p_star(model, inputs, comps, [None, "happy", "xylophone", "sad"], processor.tokenizer)
    assert plain[0] is None and all(math.isclose(a, b["p_star"], rel_tol=TOL) for a, b in zip(plain[1:], got[1:]))


@pytest.mark.parametrize("after_answer", [False, True])
def test_completion_stats_equal_the_separate_passes(omni, data, after_answer):
    model, processor = omni
    root, samples = data
    ids = {k.strip("[]"): v for k, v in guided_token_ids(processor).items()}
    trace = render(OmniCoT("A frown.", "A low voice.", "Leave me.", "All sad.", "sad"))
    # a guided token after <answer> lies outside the answer-slot sequence: the two-pass fallback runs
    texts = [trace, "<answer>sad</answer> [audio] late" if after_answer else "[vision] only"]
    comps = pad_right([tokenize(processor, t) for t in texts], processor.tokenizer.pad_token_id)
    inputs = omni_inputs(processor, [chat_messages(s, LABELS, root) for s in samples[:2]], True)
    golds = ["sad", "surprised"]
    stats, probs = completion_stats(model, inputs, comps, ids, golds, processor.tokenizer)
    alone_stats = guided_stats(model, inputs, comps, ids)
    alone_probs = answer_probs(model, inputs, comps, golds, processor.tokenizer)
    assert max(close(a[k], b[k]) for a, b in zip(stats, alone_stats) for k in ids) < TOL
    assert (stats[1]["audio"] is not None) == after_answer
    for a, b in zip(probs, alone_probs):
        assert a["n_tokens"] == b["n_tokens"] and abs(a["logp"] - b["logp"]) < TOL * abs(b["logp"])


def test_statistics_read_off_generation_equal_the_teacher_forced_pass(omni, data, monkeypatch):
    """With generate's logits, H_m, p_m and p* (of a right and of a wrong answer) need no forward pass; only what
    was never generated (a label's second token, an answer slot the trace did not open) is teacher-forced."""
    from emoomni.model import guided_stats as gs

    model, processor = omni
    root, samples = data
    ids = {k.strip("[]"): v for k, v in guided_token_ids(processor).items()}
    trace = "<think>\n[vision] a frown\n[audio] a low voice\n[dialogue] hi\n[analysis] {}\n</think>\n<answer>{}</answer>"
    texts = [trace.format("sad", "sad"), trace.format("happy", "happy"), "[audio] flat, no answer",
             trace.format("sad", "sad")]
    golds = ["sad", "sad", "angry", "xylophone"]  # right, wrong, no slot, a label of several tokens
    targets = [tokenize(processor, t) for t in texts]
    inputs = omni_inputs(processor, [chat_messages(s, LABELS, root) for s in samples[:4]], True)
    width, end = inputs["input_ids"].shape[1], targets[0][-1]

    def force(b, seq):  # generation follows the targets; its raw logits are the model's all the same
        n = seq.size(0) - width
        return [targets[b][n] if n < len(targets[b]) else end]

    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max(map(len, targets)), prefix_allowed_tokens_fn=force,
                             output_logits=True, return_dict_in_generate=True)
    comps = out.sequences[:, width:]
    assert [comps[b, :len(t)].tolist() for b, t in enumerate(targets)] == targets
    forced = []
    score = gs._score
    monkeypatch.setattr(gs, "_score", lambda m, i, seqs, wanted, *a: (wanted and forced.append(i["input_ids"].shape[0]))
                        or score(m, i, seqs, wanted, *a))
    for site in ("emitted", "following", "section"):
        fast, fast_p = completion_stats(model, inputs, comps, ids, golds, processor.tokenizer, site=site,
                                        logits=out.logits)
        assert forced == [2]  # one pass, over the missing slot's row and the multi-token label's only
        forced.clear()
        slow, slow_p = completion_stats(model, inputs, comps, ids, golds, processor.tokenizer, site=site)
        forced.clear()
        assert sum(f[m] is not None for f in fast for m in f) >= 6
        assert max(close(a[m], b[m]) for a, b in zip(fast, slow) for m in ids) < TOL
        for a, b in zip(fast_p, slow_p):
            assert a["n_tokens"] == b["n_tokens"] and abs(a["logp"] - b["logp"]) < TOL * max(1.0, abs(b["logp"]))


def test_generation_with_the_last_position_head_is_unchanged_and_never_projects_the_prompt(omni, data):
    from emoomni.model.guided_stats import last_position_head

    model, processor = omni
    root, samples = data
    inputs = omni_inputs(processor, [chat_messages(s, LABELS, root) for s in samples[:3]], True)
    shapes = []
    probe = model.get_output_embeddings().register_forward_hook(lambda m, a, out: shapes.append(tuple(out.shape)))
    kw = dict(max_new_tokens=6, do_sample=False, output_logits=True, return_dict_in_generate=True)
    try:
        with torch.no_grad():
            plain = model.generate(**inputs, **kw)
            assert shapes[0][1] == inputs["input_ids"].shape[1]  # without it the prefill projects every position
            shapes.clear()
            with last_position_head(model):
                kept = model.generate(**inputs, **kw)
    finally:
        probe.remove()
    assert {s[1] for s in shapes} == {1}
    assert torch.equal(plain.sequences, kept.sequences)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain.logits, kept.logits))
    assert not model.get_output_embeddings()._forward_pre_hooks  # removed on leaving


def test_selected_rows_are_the_inputs_of_those_chats_alone(omni, data):
    from emoomni.model.inputs import select_rows

    model, processor = omni
    root, samples = data
    chats = [chat_messages(s, LABELS, root) for s in samples[:5]]  # row 2 is a plain video: per-sample positions
    batch = omni_inputs(processor, chats, True)
    assert "position_ids" in batch
    for rows in ([1, 3], [4], [0, 1, 3, 4]):  # audio-in-video rows: the same inputs as built for them alone
        alone, picked = omni_inputs(processor, [chats[r] for r in rows], True), select_rows(model.config, batch, rows)
        for key, value in alone.items():
            if key == "input_features":  # padded to the batch's longest clip: equal where the mask keeps them
                keep = alone["feature_attention_mask"].bool()
                assert torch.equal(value.transpose(1, 2)[keep], picked[key][:, :, :value.shape[2]].transpose(1, 2)[keep])
            elif key != "feature_attention_mask":
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(picked[key])), (rows, key)
    comps = pad_right([tokenize(processor, "[vision] a frown [audio] low")] * 5, processor.tokenizer.pad_token_id)
    ids = {k.strip("[]"): v for k, v in guided_token_ids(processor).items()}
    whole = guided_stats(model, batch, comps, ids)
    part = guided_stats(model, select_rows(model.config, batch, [0, 2, 4]), comps[[0, 2, 4]], ids)
    assert max(close(whole[r][m], part[k][m]) for k, r in enumerate([0, 2, 4]) for m in ids) < TOL


def test_answer_slot_reencodes_the_token_holding_the_tags_end():
    class Stub:  # a vocabulary where '>h' is one token, as byte-level BPE can merge it
        pieces = ("<answer", ">h", "appy", "<", "answer", ">", "</think>", "x")

        def decode(self, ids, **_):
            return "".join(self.pieces[i] for i in ids)

    assert answer_slot(Stub(), [0, 1, 2]) == ([0], ">")  # '>h' crosses the tag's end: dropped, '>' re-encoded
    assert answer_slot(Stub(), [3, 4, 5, 2]) == ([3, 4], ">")  # a lone '>' is re-encoded with the label too
    assert answer_slot(Stub(), [7, 6, 7]) == ([7, 6], "\n<answer>")
    assert answer_slot(Stub(), [7]) == ([7], "\n<answer>")
    assert answer_slot(Stub(), []) == ([], "<answer>")


def test_mixed_rope_batch_stats_equal_samples_alone(omni, data):
    model, processor = omni
    root, samples = data
    ids = {k.strip("[]"): v for k, v in guided_token_ids(processor).items()}
    chosen = [samples[0], samples[2], samples[1]]  # audio-in-video, plain video, audio-in-video
    text = render(OmniCoT("Raised brows.", "A fast voice.", "Really?", "Surprise.", "surprised"))
    comp = [tokenize(processor, text)] * 3
    batch = omni_inputs(processor, [chat_messages(s, LABELS, root) for s in chosen], add_generation_prompt=True)
    assert batch["position_ids"].shape[:2] == (3, 3)
    assert extend_position_ids(batch["position_ids"], 2).shape[-1] == batch["input_ids"].shape[1] + 2
    pad = processor.tokenizer.pad_token_id
    stats = guided_stats(model, batch, pad_right(comp, pad), ids)
    probs = p_star(model, batch, pad_right(comp, pad), ["happy"] * 3, processor.tokenizer)
    for i, s in enumerate(chosen):
        one = omni_inputs(processor, [chat_messages(s, LABELS, root)], add_generation_prompt=True)
        alone = guided_stats(model, one, pad_right(comp[:1], pad), ids)[0]
        assert max(close(stats[i][k], alone[k]) for k in ids) < TOL
        assert abs(p_star(model, one, pad_right(comp[:1], pad), ["happy"], processor.tokenizer)[0] - probs[i]) < TOL


def test_predict_batched_equals_one_at_a_time_and_stats_are_exact(emitter, data, tmp_path):
    model, processor = emitter
    root, samples = data
    ids = {k.strip("[]"): v for k, v in guided_token_ids(processor).items()}
    batched = predict(model, processor, samples, root, "synthemo", tmp_path / "b4.jsonl", batch_size=4,
                      max_new_tokens=MAX_NEW)
    single = predict(model, processor, samples, root, "synthemo", tmp_path / "b1.jsonl", batch_size=1,
                     max_new_tokens=MAX_NEW)
    assert [p.sample_id for p in batched] == [s.id for s in samples] == [p.sample_id for p in single]
    assert [p.sample_id for p in read_predictions(tmp_path / "b4.jsonl")] != [s.id for s in samples]  # grouped
    assert sorted(p.sample_id for p in read_predictions(tmp_path / "b4.jsonl")) == [s.id for s in samples]
    for b, s1, sample in zip(batched, single, samples):
        assert b.text == s1.text and b.n_tokens == s1.n_tokens and set(b.stats) == {"vision", "audio"}
        assert abs(b.p_star - s1.p_star) < TOL and all(close(b.stats[m], s1.stats[m]) < TOL for m in b.stats)
        assert b.answer == extract_answer(b.text, LS) and b.gold == sample.label
    emitted = [(b, s) for b, s in zip(batched, samples) if any(v is not None for v in b.stats.values())]
    assert len(emitted) >= 3  # the emitter model really generates guided tokens
    for b, sample in emitted[:3]:  # the written stats equal a plain full-logits forward over prompt + generated ids
        one = omni_inputs(processor, [chat_messages(sample, LABELS, root)], add_generation_prompt=True)
        t = one["input_ids"].shape[1]
        with torch.no_grad():
            comp = model.generate(**one, max_new_tokens=MAX_NEW)[0, t:t + b.n_tokens].tolist()
        assert decode(processor, comp) == [b.text]
        full = dict(one, input_ids=torch.cat([one["input_ids"], torch.tensor([comp])], 1),
                    attention_mask=torch.ones(1, t + len(comp), dtype=torch.long))
        with torch.no_grad():
            logits = model(**full).logits[0].float()
        for m in ("vision", "audio"):
            assert close(b.stats[m], reference_stats(logits, t, comp, ids[m])) < TOL


def test_predict_resumes_without_duplicates_and_unparseable_answer_is_none(omni, data, tmp_path, monkeypatch):
    model, processor = omni
    root, samples = data
    first = predict(model, processor, samples, root, LABELS, tmp_path / "all.jsonl", batch_size=4,
                    max_new_tokens=MAX_NEW)
    lines = (tmp_path / "all.jsonl").read_text().splitlines()
    assert len(lines) == len(samples) == len({json.loads(x)["sample_id"] for x in lines})
    # a killed run: half the records written, then a torn append
    out = tmp_path / "resume.jsonl"
    out.write_text("\n".join(lines[:4]) + "\n" + lines[4][: len(lines[4]) // 2])
    seen: list[int] = []
    real = model.generate

    def counting(**kwargs):
        seen.append(int(kwargs["input_ids"].shape[0]))
        return real(**kwargs)

    monkeypatch.setattr(model, "generate", counting)
    again = predict(model, processor, samples, root, LABELS, out, batch_size=4, max_new_tokens=MAX_NEW)
    assert sum(seen) == len(samples) - 4  # only the rest was computed
    ids = [json.loads(x)["sample_id"] for x in out.read_text().splitlines()]
    assert sorted(ids) == sorted(s.id for s in samples)  # every sample once, no duplicates
    assert [p.text for p in again] == [p.text for p in first]
    seen.clear()
    assert predict(model, processor, samples, root, LABELS, out, batch_size=4, max_new_tokens=MAX_NEW) == again
    assert seen == []  # nothing left to do
    # the random model's outputs are unparseable: the answer is None, never a default class
    assert all(p.answer == extract_answer(p.text, LS) for p in again)
    assert any(p.answer is None for p in again) and not any(p.valid_format for p in again)
    none = next(p for p in again if p.answer is None)
    assert Prediction.from_dict(json.loads(none.to_json())) == none and not none.correct


def test_predict_sampling_is_seeded_per_batch_and_leaves_the_global_rng_alone(omni, data, tmp_path):
    model, processor = omni
    root, samples = data
    kwargs = {"batch_size": 2, "max_new_tokens": 8, "do_sample": True, "temperature": 1.5, "top_p": 0.9, "top_k": 50}
    state = torch.random.get_rng_state()
    a = predict(model, processor, samples[:2], root, "synthemo", tmp_path / "a.jsonl", seed=1, **kwargs)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = predict(model, processor, samples[:2], root, "synthemo", tmp_path / "b.jsonl", seed=1, **kwargs)
    c = predict(model, processor, samples[:2], root, "synthemo", tmp_path / "c.jsonl", seed=2, **kwargs)
    assert [p.text for p in a] == [p.text for p in b] != [p.text for p in c]
