"""Figures of the collapse: one model's signature, and the seed study's arms with their intervals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from emoomni.data.synthemo.design import CUE_NAMES
from emoomni.evaluate.seed_study import METRICS, Outcomes, intervals

SHOWN = ("agree", "neutralised", "dissent", "other")
"""The signature's subsets, in the order the figure shows them."""


def signature_chart(result: Mapping):
    """Left: accuracy per subset of the test split; right: accuracy lost with each modality removed, the shortcut marked.

    ``result`` is :func:`emoomni.stages.collapse_signature`'s.
    """
    sig, drops, shortcut = result["signature"], result["drops"], result["shortcut"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.bar(range(len(SHOWN)), [sig[s] for s in SHOWN], color=["#4c72b0", "#c44e52", "#c44e52", "#8c8c8c"])
    left.set_xticks(range(len(SHOWN)), [f"{s}\n(n={int(sig[f'n_{s}'])})" for s in SHOWN])
    left.set(ylabel="accuracy (%)", ylim=(0, 100), title=f"Accuracy by the state of the {CUE_NAMES[shortcut]}")
    names = list(drops)
    right.bar(range(len(names)), [drops[m] for m in names],
              color=["#c44e52" if m == shortcut else "#4c72b0" for m in names])
    right.axhline(0, color="black", linewidth=0.8)
    right.set_xticks(range(len(names)), [f"no {CUE_NAMES[m]}" for m in names])
    right.set(ylabel="accuracy lost (points)", title="What removing each modality costs")
    fig.suptitle(f"{result['name']}: collapse signature {'present' if result['collapsed'] else 'absent'}")
    fig.tight_layout()
    plt.close(fig)
    return fig


def study_chart(outcomes: Outcomes):
    """One panel per metric: each arm's mean over seeds and clips with its 95 % interval."""
    by_arm = intervals(outcomes)
    metrics = list(next(iter(by_arm.values())))
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 3.6), squeeze=False)
    arms = list(by_arm)
    for ax, metric in zip(axes.flat, metrics):
        ivs = [by_arm[a][metric] for a in arms]
        est = np.array([iv.estimate for iv in ivs])
        err = np.array([[iv.estimate - iv.low for iv in ivs], [iv.high - iv.estimate for iv in ivs]])
        ax.errorbar(range(len(arms)), est, yerr=err, fmt="o", capsize=4)
        if metric.startswith("drop"):
            ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(arms)), arms, rotation=35, ha="right", fontsize=8)
        ax.set_title(METRICS[metric], fontsize=9)
    n = len(next(iter(outcomes.values())))
    fig.suptitle(f"Each arm over {n} seed{'s' if n != 1 else ''}: mean and 95 % interval (clips and seeds resampled)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def signature_sentence(result: Mapping) -> str:
    """What the signature shows, in one sentence from the numbers.

    >>> r = {"name": "SFT label only", "shortcut": "text", "collapsed": True,
    ...      "signature": {"agree": 90.0, "collapse": 40.0, "follows_shortcut": 55.0},
    ...      "drops": {"vision": 5.0, "audio": 10.0, "text": 30.0}}
    >>> print(signature_sentence(r))  # doctest: +NORMALIZE_WHITESPACE
    SFT label only shows the collapse signature: 90.0 % right where every cue agrees against 40.0 % on the
    collapse subset (a gap of 50.0 points), it follows the words on 55.0 % of the clips with dissenting
    words, and removing the words costs 30.0 points against 5.0 (face) and 10.0 (voice).
    """
    sig, drops, shortcut = result["signature"], result["drops"], result["shortcut"]
    others = " and ".join(f"{drops[m]:.1f} ({CUE_NAMES[m]})" for m in drops if m != shortcut)
    cue = CUE_NAMES[shortcut]
    verb = "shows" if result["collapsed"] else "does not show"
    return (f"{result['name']} {verb} the collapse signature: {sig['agree']:.1f} % right where every cue agrees "
            f"against {sig['collapse']:.1f} % on the collapse subset (a gap of {sig['agree'] - sig['collapse']:.1f} "
            f"points), it follows the {cue} on {sig['follows_shortcut']:.1f} % of the clips with dissenting {cue}, and "
            f"removing the {cue} costs {drops[shortcut]:.1f} points against {others}.")


def signature_table(results: Sequence[Mapping]) -> pd.DataFrame:
    """One row per seed of :func:`emoomni.ablation.signatures`: accuracy per subset, the gap, the drops, the verdict.

    >>> r = {"seed": 0, "shortcut": "text", "collapsed": False, "drops": {"vision": 0.0, "audio": 38.3, "text": 31.7},
    ...      "signature": {"agree": 95.0, "collapse": 28.9, "follows_shortcut": 36.7}}
    >>> row = signature_table([r]).loc[0]
    >>> float(row["gap"]), float(row["no words"]), row["signature"]
    (66.1, 31.7, 'absent')
    """
    rows = []
    for r in results:
        sig = r["signature"]
        rows.append({"seed": r["seed"], "agree": sig["agree"], "collapse subset": sig["collapse"],
                     "gap": round(sig["agree"] - sig["collapse"], 1), "follows the shortcut": sig["follows_shortcut"],
                     **{f"no {CUE_NAMES[m]}": v for m, v in r["drops"].items()},
                     "signature": "present" if r["collapsed"] else "absent"})
    return pd.DataFrame(rows).set_index("seed").round(1)


def signatures_sentence(results: Sequence[Mapping]) -> str:
    """How many seeds show the signature, and the mean removal costs over seeds, from the numbers.

    >>> r = lambda c, t: {"name": "SFT label only", "shortcut": "text", "collapsed": c,
    ...                   "drops": {"vision": 0.0, "audio": 20.0, "text": t}}
    >>> print(signatures_sentence([r(False, 10.0), r(True, 40.0)]))  # doctest: +NORMALIZE_WHITESPACE
    SFT label only shows the collapse signature for 1 of 2 seeds; over the seeds, removing the words
    costs 25.0 points on average, the face 0.0 and the voice 20.0.
    """
    first = results[0]
    shortcut, n = first["shortcut"], len(results)
    mean = {m: float(np.mean([r["drops"][m] for r in results])) for m in first["drops"]}
    others = " and ".join(f"the {CUE_NAMES[m]} {v:.1f}" for m, v in mean.items() if m != shortcut)
    return (f"{first['name']} shows the collapse signature for {sum(r['collapsed'] for r in results)} of {n} "
            f"seed{'s' if n != 1 else ''}; over the seeds, removing the {CUE_NAMES[shortcut]} costs "
            f"{mean[shortcut]:.1f} points on average, {others}.")
