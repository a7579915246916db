"""95 % bootstrap intervals over clips and seeds, paired where two arms share their seeds and clips.

A result is a 0/1 matrix ``hits[seed, clip]`` (the model trained with that seed got that clip right).
The bootstrap resamples seeds with replacement and, inside each drawn seed, clips with replacement
(a two-level bootstrap), so an interval carries both the clip sampling and the seed-to-seed spread.
A paired comparison draws the same seeds and clips for both arms, so what two arms have in common
(the same hard clips, the same lucky seed) cancels out of their difference. One seed gives a
clip-only interval, which the result says.

Verdict sentences come from :func:`verdict`: a difference counts only when its interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DRAWS = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate (percent) with its bootstrap interval and what was resampled."""

    estimate: float
    low: float
    high: float
    seeds: int
    clips: int

    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0.

        >>> Interval(2.0, 0.5, 3.0, 5, 100).excludes_zero(), Interval(2.0, -0.5, 3.0, 5, 100).excludes_zero()
        (True, False)
        """
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.estimate:.1f} % [{self.low:.1f}, {self.high:.1f}]"


def _matrix(hits: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    m = np.asarray(hits, dtype=float)
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(f"expected a (seeds, clips) matrix with at least one of each, got shape {m.shape}")
    return m


def _draws(seeds: int, clips: int, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Resampled seed indices ``(draws, seeds)`` and clip indices ``(draws, seeds, clips)``."""
    s = rng.integers(0, seeds, size=(draws, seeds)) if seeds > 1 else np.zeros((draws, 1), dtype=int)
    c = rng.integers(0, clips, size=(draws, seeds, clips))
    return s, c


def _resampled_means(m: np.ndarray, s: np.ndarray, c: np.ndarray) -> np.ndarray:
    rows = m[s[..., None], c]  # (draws, seeds, clips)
    return rows.mean(axis=(1, 2))


def _interval(point: float, dist: np.ndarray, seeds: int, clips: int, level: float) -> Interval:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(dist, [tail, 100 - tail])
    return Interval(100 * point, 100 * float(low), 100 * float(high), seeds, clips)


def accuracy_interval(hits: Sequence[Sequence[float]] | np.ndarray, draws: int = DRAWS, level: float = LEVEL,
                      seed: int = 0) -> Interval:
    """Mean accuracy over seeds and clips (percent) with its two-level bootstrap interval.

    >>> str(accuracy_interval([[1, 1, 1, 1]]))
    '100.0 % [100.0, 100.0]'
    >>> iv = accuracy_interval([[1, 0] * 50, [1, 1] * 50])
    >>> iv.estimate, iv.low < 75 < iv.high, (iv.seeds, iv.clips)
    (75.0, True, (2, 100))
    """
    m = _matrix(hits)
    s, c = _draws(*m.shape, draws, np.random.default_rng(seed))
    return _interval(float(m.mean()), _resampled_means(m, s, c), *m.shape, level)


def paired_difference(a: Sequence[Sequence[float]] | np.ndarray, b: Sequence[Sequence[float]] | np.ndarray,
                      draws: int = DRAWS, level: float = LEVEL, seed: int = 0) -> Interval:
    """``b - a`` in accuracy points, both arms resampled with the same seeds and clips (they must share both).

    >>> str(paired_difference([[0] * 10] * 2, [[1] * 10] * 2))
    '100.0 % [100.0, 100.0]'
    >>> paired_difference([[1, 0, 1, 0] * 25] * 3, [[1, 0, 1, 0] * 25] * 3).high
    0.0
    """
    ma, mb = _matrix(a), _matrix(b)
    if ma.shape != mb.shape:
        raise ValueError(f"paired arms need the same seeds and clips: {ma.shape} against {mb.shape}")
    s, c = _draws(*ma.shape, draws, np.random.default_rng(seed))
    dist = _resampled_means(mb, s, c) - _resampled_means(ma, s, c)
    return _interval(float(mb.mean() - ma.mean()), dist, *ma.shape, level)


def verdict(a: str, b: str, diff: Interval, what: str = "accuracy", unit: str = "clips") -> str:
    """One sentence on ``b`` against ``a`` from a paired difference: a change only when its interval excludes 0.

    >>> verdict("SFT", "GRPO", Interval(3.2, 0.4, 6.1, 5, 300))
    'GRPO beats SFT on accuracy by 3.2 points (95 % interval 0.4 to 6.1, 5 seeds x 300 clips).'
    >>> verdict("SFT", "GRPO", Interval(-1.0, -3.0, 1.2, 5, 300))
    'GRPO and SFT do not differ on accuracy beyond the noise: -1.0 points (95 % interval -3.0 to 1.2, 5 seeds x 300 clips).'
    >>> verdict("base", "SFT", Interval(6.6, 1.8, 11.4, 5, 100), unit="items")[-49:]
    '(95 % interval 1.8 to 11.4, 5 seeds x 100 items).'
    """
    span = f"(95 % interval {diff.low:.1f} to {diff.high:.1f}, {diff.seeds} seeds x {diff.clips} {unit})"
    if diff.seeds == 1:
        span = span[:-1] + f"; one seed: {unit} only)"
    if not diff.excludes_zero():
        return f"{b} and {a} do not differ on {what} beyond the noise: {diff.estimate:.1f} points {span}."
    word = "beats" if diff.estimate > 0 else "trails"
    return f"{b} {word} {a} on {what} by {abs(diff.estimate):.1f} points {span}."
