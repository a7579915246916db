"""Bootstrap intervals over seeds and clips, and the sentences generated from them."""

import math

import numpy as np
import pytest

from emoomni.intervals import Interval, accuracy_interval, paired_difference, verdict


def test_one_seed_interval_matches_the_binomial_width():
    hits = [[1] * 300 + [0] * 100]  # 75 % over 400 clips
    iv = accuracy_interval(hits, draws=4000)
    half = 1.96 * math.sqrt(0.75 * 0.25 / 400) * 100  # 4.24 points by the normal approximation
    assert iv.estimate == 75.0
    assert iv.high - iv.low == pytest.approx(2 * half, rel=0.15)


def test_the_seed_spread_widens_the_interval():
    rng = np.random.default_rng(1)
    same = np.tile(rng.random(300) < 0.6, (5, 1)).astype(float)
    spread = np.stack([rng.random(300) < p for p in (0.4, 0.5, 0.6, 0.7, 0.8)]).astype(float)
    a, b = accuracy_interval(same), accuracy_interval(spread)
    assert (b.high - b.low) > 1.5 * (a.high - a.low)


def test_pairing_cancels_what_two_arms_share():
    rng = np.random.default_rng(2)
    easy = rng.random((5, 300)) < 0.7
    a = easy.astype(float)
    b = easy.copy()
    b[:, :30] = True  # b also gets 30 clips right that a may miss: about +3 points, always
    b = b.astype(float)
    paired = paired_difference(a, b)
    assert paired.excludes_zero() and 0 < paired.low <= paired.estimate <= paired.high < 10
    unpaired_width = (accuracy_interval(a).high - accuracy_interval(a).low) * math.sqrt(2)
    assert paired.high - paired.low < unpaired_width / 2


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="same seeds and clips"):
        paired_difference([[1, 0]], [[1, 0, 1]])
    with pytest.raises(ValueError, match="matrix"):
        accuracy_interval([1, 0, 1])


def test_verdicts_follow_the_interval_not_the_estimate():
    assert verdict("A", "B", Interval(-4.0, -7.0, -1.0, 5, 100)).startswith("B trails A on accuracy by 4.0 points")
    assert "beyond the noise" in verdict("A", "B", Interval(4.0, -0.1, 8.0, 5, 100))
    assert "one seed: clips only" in verdict("A", "B", Interval(4.0, 1.0, 8.0, 1, 100))
