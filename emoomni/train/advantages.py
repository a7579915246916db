"""GRPO's advantages as TRL computes them, and how much of them the alpha x R_mod term decides.

TRL (``sum_then_normalize``, the default aggregation) centres each completion's reward on its group's
mean and, with ``scale_rewards`` ``group`` (the paper's Eq. 11) or ``batch``, divides by the group's
(or the batch's) sample standard deviation plus ``1e-4``. Where the task reward ``R_fmt x R_acc`` is
constant within a group (all right, or all wrong), the group's whole advantage comes from the spread
of ``alpha x R_mod``, however small, once it is divided by that spread's own standard deviation.
R_mod's share of the *reward* therefore understates its weight; :func:`alpha_advantage_share` gives its
share of the *advantage*. Pure Python, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

EPS = 1e-4
"""TRL's constant added to the standard deviation before dividing."""


def _std(values: Sequence[float]) -> float:
    """Sample (Bessel-corrected) standard deviation, as ``trl.trainer.utils.nanstd``; nan below two values."""
    if len(values) < 2:
        return math.nan
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _groups(values: Sequence[float], group_size: int) -> list[list[float]]:
    """Consecutive groups of ``group_size`` (TRL lays each prompt's completions out together)."""
    if group_size < 1 or len(values) % group_size:
        raise ValueError(f"{len(values)} rewards do not split into groups of {group_size}")
    return [list(values[i:i + group_size]) for i in range(0, len(values), group_size)]


def advantages(rewards: Sequence[float], group_size: int, scale_rewards: str = "group") -> list[float]:
    """TRL's GRPO advantages of one generation batch (``scale_rewards``: ``group``, ``batch`` or ``none``).

    >>> [round(a, 4) for a in advantages([1.0, 0.0, 0.5, 0.5], 2)]
    [0.707, -0.707, 0.0, 0.0]
    >>> advantages([1.0, 0.0, 0.5, 0.5], 2, "none")
    [0.5, -0.5, 0.0, 0.0]
    """
    groups = _groups(rewards, group_size)
    batch_std = _std(list(rewards)) if len(rewards) > 1 else 0.0
    out = []
    for g in groups:
        mean = sum(g) / len(g)
        if scale_rewards == "none":
            out.extend(r - mean for r in g)
            continue
        if scale_rewards == "group":
            std = _std(g) if len(g) > 1 else 0.0
        elif scale_rewards == "batch":
            std = batch_std
        else:
            raise ValueError(f"unknown scale_rewards {scale_rewards!r}; choose group, batch or none")
        out.extend((r - mean) / (std + EPS) for r in g)
    return out


def alpha_advantage_share(task: Sequence[float], modality: Sequence[float], alpha: float, group_size: int,
                          scale_rewards: str = "group") -> float:
    """Share of the summed absolute advantage that the alpha term decides: sum |A(R) - A(task)| / sum |A(R)|.

    ``A(R)`` are the advantages of the full reward ``task + alpha x modality``, ``A(task)`` those of the
    task reward ``R_fmt x R_acc`` alone, both with TRL's normalisation; 0 when every advantage is 0.
    Hand-computed on two groups of two, alpha = 0.1: group 1 all right (task 1, 1) with R_mod 0.2, 0;
    group 2 one right (task 1, 0) with R_mod 0, 0. Group 1's rewards 1.02, 1.00 have std 0.01 x sqrt 2,
    so A(R) = +-0.01 / (0.0141421 + 0.0001) = +-0.70214 while A(task) = 0; group 2's A(R) = A(task) =
    +-0.5 / (0.707107 + 0.0001) = +-0.70700. The share is 2 x 0.70214 / (2 x 0.70214 + 2 x 0.70700) = 0.498,
    although alpha x R_mod is 0.5 % of the summed reward; without scaling (``none``) it is
    2 x 0.01 / (2 x 0.01 + 2 x 0.5) = 0.0196.

    >>> task, mod = [1.0, 1.0, 1.0, 0.0], [0.2, 0.0, 0.0, 0.0]
    >>> round(alpha_advantage_share(task, mod, 0.1, 2), 3)
    0.498
    >>> round(alpha_advantage_share(task, mod, 0.1, 2, "none"), 4)
    0.0196
    >>> alpha_advantage_share(task, mod, 0.0, 2)
    0.0
    """
    if len(task) != len(modality):
        raise ValueError(f"{len(task)} task rewards but {len(modality)} R_mod values")
    full = advantages([t + alpha * m for t, m in zip(task, modality)], group_size, scale_rewards)
    alone = advantages(list(task), group_size, scale_rewards)
    total = sum(abs(a) for a in full)
    return sum(abs(a - b) for a, b in zip(full, alone)) / total if total > 0 else 0.0


def constant_task_fraction(task: Sequence[float], group_size: int) -> float:
    """The fraction of groups whose task reward is the same for every completion (all right, or all wrong).

    >>> constant_task_fraction([1.0, 1.0, 1.0, 0.0, 0.0, 0.0], 2)
    0.6666666666666666
    """
    groups = _groups(task, group_size)
    return sum(max(g) - min(g) == 0 for g in groups) / len(groups)
