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
    assert accuracy_reward(completions, gold=gold, label_set=ls) == [1.0, 1.0, 0.0, 1.0]  # a bare label counts
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
