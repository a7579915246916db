"""The seed study's numbers: every arm's per-seed outcomes as intervals, paired differences and verdict sentences.

An *outcome* is one trained model's per-clip results (:func:`emoomni.evaluate.collapse.outcome`); an arm
is one recipe trained with several seeds, so its outcomes stack into ``(seeds, clips)`` matrices that
:mod:`emoomni.intervals` resamples over clips and seeds. Arms compared in :func:`differences` must share
their seeds and clips (same seed list, same evaluation split), so the pairing is exact. Every sentence
comes from the numbers: a difference is stated as one only when its 95 % interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from emoomni.data.synthemo.design import CUE_NAMES
from emoomni.intervals import Interval, accuracy_interval, paired_difference, verdict

WITHOUT = {f"drop {m}": f"the {cue}" for m, cue in CUE_NAMES.items()}
"""The reliance metrics and the modality each removes, as sentences name it."""
METRICS = {"accuracy": "accuracy", "collapse": "accuracy on the collapse subset",
           **{m: f"accuracy lost without {words}" for m, words in WITHOUT.items()}}
"""The study's metrics (keys of an outcome) and how sentences name them."""

Outcomes = Mapping[str, Sequence[Mapping[str, Sequence[float]]]]
"""Per arm, one outcome per seed, in the same seed order for every arm."""


def matrix(per_seed: Sequence[Mapping[str, Sequence[float]]], metric: str) -> np.ndarray:
    """One metric of an arm's outcomes as a ``(seeds, clips)`` matrix.

    >>> matrix([{"accuracy": [1, 0]}, {"accuracy": [1, 1]}], "accuracy").tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    rows = [list(o[metric]) for o in per_seed]
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"{metric}: the seeds were evaluated on different numbers of clips {[len(r) for r in rows]}")
    return np.asarray(rows, dtype=float)


def _metrics(outcomes: Outcomes) -> list[str]:
    present = set.intersection(*(set(o) for per_seed in outcomes.values() for o in per_seed))
    return [m for m in METRICS if m in present]


def intervals(outcomes: Outcomes) -> dict[str, dict[str, Interval]]:
    """Per arm and metric: the mean over seeds and clips (percent or points) with its 95 % interval."""
    metrics = _metrics(outcomes)
    return {arm: {m: accuracy_interval(matrix(per_seed, m)) for m in metrics} for arm, per_seed in outcomes.items()}


def _cell(iv: Interval, signed: bool = False) -> str:
    """An interval as a table cell, "estimate [low, high]".

    >>> _cell(Interval(2.0, -0.5, 3.0, 5, 100), signed=True)
    '+2.0 [-0.5, 3.0]'
    """
    return f"{iv.estimate:{'+' if signed else ''}.1f} [{iv.low:.1f}, {iv.high:.1f}]"


def table(outcomes: Outcomes) -> pd.DataFrame:
    """The study's table: one row per arm, one column per metric, each cell "estimate [low, high]".

    >>> o = {"A": [{"accuracy": [1, 1, 0, 0]}], "B": [{"accuracy": [1, 1, 1, 1]}]}
    >>> table(o).loc["B", "accuracy"]
    '100.0 [100.0, 100.0]'
    """
    rows = {arm: {m: _cell(iv) for m, iv in by_metric.items()}
            for arm, by_metric in intervals(outcomes).items()}
    frame = pd.DataFrame(rows).T
    frame.index.name = f"arm ({len(next(iter(outcomes.values())))} seeds)"
    return frame


def per_seed(outcomes: Outcomes, seeds: Sequence[int], metric: str = "accuracy") -> pd.DataFrame:
    """One metric per arm and seed (percent), where a seed unlike the others shows that a mean hides.

    >>> o = {"A": [{"accuracy": [1, 0]}, {"accuracy": [0, 0]}]}
    >>> per_seed(o, [3, 4]).loc["A"].tolist()
    [50.0, 0.0]
    """
    rows = {arm: matrix(per, metric).mean(axis=1) * 100 for arm, per in outcomes.items()}
    if any(len(r) != len(seeds) for r in rows.values()):
        raise ValueError(f"{len(seeds)} seeds named for arms of {sorted({len(r) for r in rows.values()})} seeds")
    frame = pd.DataFrame(rows, index=[f"seed {s}" for s in seeds]).T.round(1)
    frame.index.name = METRICS[metric]
    return frame


def differences(outcomes: Outcomes, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Interval]]:
    """Per pair ``(a, b)`` and metric: ``b - a``, paired over the shared seeds and clips."""
    metrics = _metrics({k: outcomes[k] for pair in pairs for k in pair})
    return {(a, b): {m: paired_difference(matrix(outcomes[a], m), matrix(outcomes[b], m)) for m in metrics}
            for a, b in pairs}


def differences_table(outcomes: Outcomes, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """:func:`differences` as a table: one row per pair ("a → b"), cells "difference [low, high]", * when it excludes 0.

    >>> o = {"A": [{"accuracy": [0, 0, 0, 0]}], "B": [{"accuracy": [1, 1, 1, 1]}]}
    >>> differences_table(o, [("A", "B")]).iloc[0, 0]
    '+100.0 [100.0, 100.0] *'
    """
    rows = {f"{a} → {b}": {m: _cell(iv, signed=True) + (" *" if iv.excludes_zero() else "")
                           for m, iv in by_metric.items()}
            for (a, b), by_metric in differences(outcomes, pairs).items()}
    return pd.DataFrame(rows).T


def reliance_verdict(a: str, b: str, modality_words: str, diff: Interval) -> str:
    """One sentence on how much more or less ``b`` than ``a`` loses without a modality, from a paired difference.

    >>> reliance_verdict("SFT", "GRPO", "the face", Interval(-6.0, -9.0, -2.5, 5, 120))
    'GRPO loses 6.0 points less than SFT without the face (95 % interval -9.0 to -2.5, 5 seeds x 120 clips).'
    >>> reliance_verdict("SFT", "GRPO", "the face", Interval(1.0, -2.0, 4.0, 5, 120))[:61]
    'GRPO and SFT lose the same without the face, within the noise'
    """
    span = f"(95 % interval {diff.low:.1f} to {diff.high:.1f}, {diff.seeds} seeds x {diff.clips} clips)"
    if not diff.excludes_zero():
        return f"{b} and {a} lose the same without {modality_words}, within the noise: {diff.estimate:+.1f} points {span}."
    word = "more" if diff.estimate > 0 else "less"
    return f"{b} loses {abs(diff.estimate):.1f} points {word} than {a} without {modality_words} {span}."



def verdicts(outcomes: Outcomes, pairs: Sequence[tuple[str, str]], unit: str = "clips") -> list[str]:
    """The study's sentences: per pair, accuracy, collapse-subset accuracy and each modality's reliance."""
    out = []
    for (a, b), by_metric in differences(outcomes, pairs).items():
        for m, diff in by_metric.items():
            out.append(reliance_verdict(a, b, WITHOUT[m], diff) if m in WITHOUT else verdict(a, b, diff, METRICS[m], unit))
    return out
