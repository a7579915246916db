"""The DyME-GRPO reward functions: hand-computed values and every edge case the conventions decide."""

from __future__ import annotations

import math

import pytest

from emoomni.train.rewards import (accuracy_reward, dyme_score, format_accuracy_reward, format_reward,
                                   modality_entropy_reward, modality_reward, modality_weights, reward_functions)

VALID = "<think>\n[vision] frown\n[audio] loud\n[dialogue] no\n[analysis] angry\n</think>\n<answer>angry</answer>"
NO_AUDIO = "<think>\n[vision] frown\n[dialogue] no\n[analysis] angry\n</think>\n<answer>angry</answer>"


def stats(hv, pv, ha, pa):
    return {"vision": {"entropy": hv, "prob": pv}, "audio": {"entropy": ha, "prob": pa}}


def test_modality_reward_matches_the_formula_computed_by_hand():
    hv, pv, ha, pa, ps = 0.7, 0.9, 2.3, 0.4, 0.35
    uv, ua = pv / hv, pa / ha
    wv, wa = uv / (uv + ua), ua / (uv + ua)
    expected = (1 - ps) * (wv * hv + wa * ha)
    got = modality_entropy_reward({"vision": hv, "audio": ha}, {"vision": pv, "audio": pa}, ps)
    assert math.isclose(got, expected, rel_tol=1e-12)
    w = modality_weights({"vision": hv, "audio": ha}, {"vision": pv, "audio": pa})
    assert math.isclose(w["vision"], wv) and math.isclose(w["audio"], wa)


def test_a_confident_gold_answer_switches_the_modality_reward_off():
    h, p = {"vision": 1.0, "audio": 1.0}, {"vision": 0.5, "audio": 0.5}
    assert modality_entropy_reward(h, p, 1.0) == 0.0
    assert modality_entropy_reward(h, p, 0.0) == pytest.approx(1.0)


def test_zero_entropy_is_the_limit_not_a_division_error():
    assert modality_entropy_reward({"vision": 0.0, "audio": 1.5}, {"vision": 1.0, "audio": 0.3}, 0.2) == 0.0
    assert modality_entropy_reward({"vision": 0.0, "audio": 0.0}, {"vision": 1.0, "audio": 1.0}, 0.2) == 0.0
    near = modality_entropy_reward({"vision": 1e-9, "audio": 1.5}, {"vision": 1.0, "audio": 0.3}, 0.2)
    assert 0.0 < near < 1e-8  # continuous at the limit
    assert modality_weights({"vision": 0.0, "audio": 0.0}, {"vision": 0.75, "audio": 0.25}) == {
        "vision": 0.75, "audio": 0.25}


def test_missing_statistics_give_no_modality_reward():
    p = {"vision": 0.5, "audio": 0.5}
    assert modality_entropy_reward({"vision": 1.0, "audio": None}, p, 0.1) == 0.0
    assert modality_entropy_reward({"vision": 1.0}, p, 0.1) == 0.0
    assert modality_entropy_reward({"vision": 1.0, "audio": 1.0}, p, None) == 0.0


def test_trl_signature_reward_functions_score_each_completion():
    completions = [VALID, NO_AUDIO, VALID.replace("angry</answer>", "sad</answer>"), "angry"]
    gold, ls = ["angry"] * 4, ["synthemo"] * 4
    assert format_reward(completions) == [1.0, 0.0, 1.0, 0.0]
    assert accuracy_reward(completions, gold=gold, label_set=ls) == [1.0, 1.0, 0.0, 0.0]  # no <answer>: no answer
    assert format_accuracy_reward(completions, gold=gold, label_set=ls, extra="ignored") == [1.0, 0.0, 0.0, 0.0]
    s = [stats(1.0, 0.5, 2.0, 0.5), stats(1.0, 0.5, None, None), stats(1.0, 0.5, 2.0, 0.5), stats(1.0, 0.5, 2.0, 0.5)]
    r = modality_reward(completions, guided_stats=s, p_star=[0.25, 0.25, 0.25, 0.25])
    assert r == [pytest.approx(1.0), 0.0, pytest.approx(1.0), 0.0]  # invalid traces earn no entropy reward
    conversational = [[{"role": "assistant", "content": VALID}]]
    assert format_reward(conversational) == [1.0]
    with pytest.raises(ValueError, match="guided_stats"):
        modality_reward(completions)


def test_dyme_score_combines_the_components_and_alpha_zero_is_vanilla():
    h, p = {"vision": 1.0, "audio": 2.0}, {"vision": 0.5, "audio": 0.5}
    assert dyme_score(VALID, "angry", "synthemo", h, p, 0.25, alpha=0.1) == pytest.approx(1.1)
    assert dyme_score(VALID, "sad", "synthemo", h, p, 0.25, alpha=0.1) == pytest.approx(0.1)
    assert dyme_score(VALID, "angry", "synthemo", h, p, 0.25, alpha=0.0) == 1.0
    assert dyme_score(NO_AUDIO, "angry", "synthemo", h, p, 0.25, alpha=0.1) == 0.0


def test_rewards_are_listed_by_name():
    assert [f.__name__ for f in reward_functions(["format", "accuracy"])] == ["format_reward", "accuracy_reward"]
    with pytest.raises(ValueError, match="unknown reward"):
        reward_functions(["fluency"])


# Adversarial completions: what the format check, Phi and R_acc must refuse.
TRUNCATED = "<think>\n[vision] the face suggests sad\n[audio] the voice suggests sad\n[dialogue] no"


@pytest.mark.parametrize("text", [
    VALID.replace("<answer>angry</answer>", "<answer>not angry</answer>"),
    VALID.replace("<answer>angry</answer>", "<answer>Not at all angry.</answer>"),
    VALID.replace("<answer>angry</answer>", "<answer>it isn't angry</answer>"),
    TRUNCATED,  # no <answer>: the evidence sentences are no answer
    TRUNCATED.replace("sad", "angry"),
    "The voice suggests angry.",  # no <answer> at all: R_acc reads no answer
])
def test_accuracy_refuses_negated_and_missing_answers(text):
    assert accuracy_reward([text], gold=["angry"], label_set=["synthemo"]) == [0.0]
    assert accuracy_reward([text], gold=["sad"], label_set=["synthemo"]) == [0.0]


def test_phi_keeps_a_documented_fallback_for_free_form_replies_only():
    from emoomni.labels import extract_answer

    assert extract_answer("The voice suggests sad.", "synthemo") == "sad"  # a free-form reply: the whole text
    assert extract_answer(TRUNCATED, "synthemo") is None  # a trace without its answer: no answer
    assert extract_answer("<think>she is sad</think> so", "synthemo") is None
    assert extract_answer("<answer>not happy</answer>", "synthemo") is None
    assert extract_answer("She does not look happy.", "synthemo") is None
    assert extract_answer("<answer>unhappy</answer>", "synthemo") == "sad"  # a synonym, not a negation


@pytest.mark.parametrize("answer", ["[vision] angry", "angry [audio]", "[analysis]angry"])
def test_a_guided_token_inside_the_answer_fails_the_format_check(answer):
    text = VALID.replace("<answer>angry</answer>", f"<answer>{answer}</answer>")
    assert format_reward([text]) == [0.0]
    assert format_reward([text], order=["free"]) == [0.0]
    assert format_accuracy_reward([text], gold=["angry"], label_set=["synthemo"]) == [0.0]


def test_free_order_accepts_any_evidence_order_once_each_with_analysis_last():
    from itertools import permutations

    body = {"vision": "frown", "audio": "loud", "dialogue": "no"}
    for perm in permutations(body):
        sections = "\n".join(f"[{m}] {body[m]}" for m in perm)
        text = f"<think>\n{sections}\n[analysis] angry\n</think>\n<answer>angry</answer>"
        assert format_reward([text], order=["free"]) == [1.0]
        assert format_reward([text]) == [1.0 if perm == ("vision", "audio", "dialogue") else 0.0]
    late = "<think>[vision] a [analysis] b [audio] c [dialogue] d</think><answer>angry</answer>"
    twice = "<think>[vision] a [audio] b [vision] c [dialogue] d [analysis] e</think><answer>angry</answer>"
    assert format_reward([late, twice, NO_AUDIO], order=["free"] * 3) == [0.0, 0.0, 0.0]
    st = [stats(1.0, 0.5, 2.0, 0.5)]
    swapped = VALID.replace("[vision] frown\n[audio] loud", "[audio] loud\n[vision] frown")
    assert modality_reward([swapped], guided_stats=st, p_star=[0.25]) == [0.0]
    assert modality_reward([swapped], guided_stats=st, p_star=[0.25], order=["free"]) == [pytest.approx(1.0)]


def test_free_order_targets_are_reproducible_per_sample_and_vary_across_samples():
    from emoomni.omnicot import OmniCoT, parse, render, render_style

    record = OmniCoT("A frown.", "A loud voice.", "Leave me.", "All angry.", "angry")
    texts = {i: render(record, "free", f"clip-{i}") for i in range(30)}
    assert texts[3] == render(record, "free", "clip-3")  # seeded from the sample id
    firsts = {t.split("\n")[1].split("]")[0] + "]" for t in texts.values()}
    assert firsts == {"[vision]", "[audio]", "[dialogue]"}
    for t in texts.values():
        assert parse(t, "free") == record and t.split("\n")[-3].startswith("[analysis]")
    assert render(record) == render(record, "fixed", "clip-3") == render_style(record, "omnicot")


def test_advantage_share_follows_trls_own_normalisation():
    import torch
    from trl.trainer.utils import nanstd

    from emoomni.train.advantages import advantages

    g = torch.Generator().manual_seed(0)
    rewards = torch.rand(12, generator=g).round(decimals=1)
    grouped = rewards.view(-1, 4)
    mean = grouped.mean(1).repeat_interleave(4)
    expected = {"group": (rewards - mean) / (nanstd(grouped, dim=1).repeat_interleave(4) + 1e-4),
                "batch": (rewards - mean) / (nanstd(rewards) + 1e-4), "none": rewards - mean}
    for scale, ref in expected.items():
        assert advantages(rewards.tolist(), 4, scale) == pytest.approx(ref.tolist(), abs=1e-5), scale
