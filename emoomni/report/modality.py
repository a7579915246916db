"""Figures and tables of modality reliance: ablation costs per model and the guided-token statistics."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

QUANTITIES = {"H_vision": "H at [vision] (nats)", "H_audio": "H at [audio] (nats)",
              "w_vision": "w_vision", "w_audio": "w_audio"}
"""The columns of :func:`emoomni.evaluate.modality.guided_distribution` that :func:`entropy_distributions` plots."""


def _ablated(profiles: Mapping[str, pd.DataFrame]) -> list[str]:
    """The ablated modalities of all profiles, in first-seen order, without the reference ("none")."""
    seen: list[str] = []
    for frame in profiles.values():
        seen += [m for m in frame.index if m not in seen and m != "none"]
    return seen


def reliance_chart(profiles: Mapping[str, pd.DataFrame]):
    """Grouped bars per ablated modality, one bar per model: accuracy drop (points) and flip rate (percent)."""
    if not profiles:
        raise ValueError("no profiles given")
    modalities = _ablated(profiles)
    x = np.arange(len(modalities))
    width = 0.8 / len(profiles)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    panels = (("accuracy_drop", "accuracy drop (points)"), ("flip_rate", "answers changed (%)"))
    for ax, (column, title) in zip(axes, panels):
        for k, (name, frame) in enumerate(profiles.items()):
            values = [100 * frame.loc[m, column] if m in frame.index else np.nan for m in modalities]
            ax.bar(x + (k - (len(profiles) - 1) / 2) * width, values, width, label=name)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(x, [f"no {m}" for m in modalities])
        ax.set(title=title, xlabel="ablated modality")
    axes[0].legend(fontsize=8)
    fig.suptitle("What removing one modality at inference costs each model")
    fig.tight_layout()
    plt.close(fig)
    return fig


def entropy_distributions(dists: Mapping[str, pd.DataFrame], bins: int = 20):
    """Histograms (share of each model's predictions) of H_m and w_m at the guided tokens, one outline per model."""
    if not dists:
        raise ValueError("no distributions given")
    fig, axes = plt.subplots(1, len(QUANTITIES), figsize=(3.2 * len(QUANTITIES), 3.2), squeeze=False)
    for ax, (column, title) in zip(axes.flat, QUANTITIES.items()):
        values = {name: frame[column].dropna().to_numpy(dtype=float) for name, frame in dists.items()}
        pooled = np.concatenate(list(values.values()))
        if pooled.size == 0:
            ax.text(0.5, 0.5, "no guided tokens", ha="center", va="center", transform=ax.transAxes)
        else:
            edges = (np.linspace(0, 1, bins + 1) if column.startswith("w_")
                     else np.histogram_bin_edges(pooled, bins=bins))
            for name, v in values.items():
                if v.size:
                    ax.hist(v, bins=edges, weights=np.full(v.size, 1 / v.size), histtype="step", linewidth=1.5,
                            label=f"{name} (n = {v.size})")
            ax.legend(fontsize=7)
        ax.set(title=title, xlabel=title, ylabel="share of predictions")
    fig.tight_layout()
    plt.close(fig)
    return fig


def reliance_table(profiles: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per model and ablated modality: n, accuracy with and without the modality, the drop and the flip rate."""
    if not profiles:
        raise ValueError("no profiles given")
    frame = pd.concat({name: p for name, p in profiles.items()}, names=["model", "ablated"])
    table = pd.DataFrame({
        "n": frame["n"].astype(int),
        "accuracy (%)": 100 * frame["accuracy"],
        "ablated accuracy (%)": 100 * frame["ablated_accuracy"],
        "accuracy drop (points)": 100 * frame["accuracy_drop"],
        "answers changed (%)": 100 * frame["flip_rate"],
    })
    return table.round(1)
