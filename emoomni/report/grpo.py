"""Figures and tables of the DyME-GRPO chapter: every logged quantity per step, modality weights, scores by condition."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from emoomni.data.manifest import Sample
from emoomni.metrics import emotion_metrics

CURVES = {
    "reward": "total reward R",
    "rewards/format_accuracy_reward/mean": "R_fmt x R_acc",
    "rewards/modality_reward/mean": "R_mod (all completions)",
    "dyme/R_mod": "R_mod (valid traces)",
    "dyme/format_rate": "valid format rate",
    "dyme/accuracy": "accuracy",
    "dyme/advantage_share_alpha": "advantage share of alpha x R_mod",
    "dyme/constant_task_groups": "groups with constant R_fmt x R_acc",
    "dyme/H_vision": "H at [vision] (nats)",
    "dyme/H_audio": "H at [audio] (nats)",
    "dyme/w_vision": "w_vision",
    "dyme/w_audio": "w_audio",
    "dyme/p_star": "p* (gold answer)",
    "completions/mean_length": "completion length (tokens)",
    "kl": "KL to the SFT model",
    "loss": "policy loss",
}
"""The logged columns plotted by :func:`grpo_curves`, with their titles."""


def read_log(path: str | Path) -> pd.DataFrame:
    """A run's ``log_history.csv``, training rows only (those with a step and a reward)."""
    frame = pd.read_csv(path)
    return frame.dropna(subset=[c for c in ("reward",) if c in frame]).reset_index(drop=True)


def grpo_curves(logs: Mapping[str, str | Path], columns: Mapping[str, str] = CURVES, per_row: int = 4):
    """One panel per logged quantity against the optimizer step, one line per run (columns a run lacks are skipped)."""
    frames = {name: read_log(path) for name, path in logs.items()}
    present = [c for c in columns if any(c in f and f[c].notna().any() for f in frames.values())]
    if not present:
        raise ValueError("none of the GRPO columns is in these logs")
    rows = -(-len(present) // per_row)
    fig, axes = plt.subplots(rows, per_row, figsize=(3.2 * per_row, 2.4 * rows), squeeze=False)
    for ax, column in zip(axes.flat, present):
        for name, frame in frames.items():
            if column in frame:
                data = frame.dropna(subset=[column])
                ax.plot(data["step"], data[column], label=name, lw=1.2)
        ax.set_title(columns[column], fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.supxlabel("optimizer step", fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig


def modality_weight_curves(logs: Mapping[str, str | Path]):
    """w_vision and w_audio against the step for each run (the weights R_mod puts on each modality's entropy)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for name, path in logs.items():
        frame = read_log(path)
        for column, style in (("dyme/w_vision", "-"), ("dyme/w_audio", "--")):
            if column in frame and frame[column].notna().any():
                data = frame.dropna(subset=[column])
                ax.plot(data["step"], data[column], style, label=f"{name}: {column.split('/')[-1]}")
    ax.set(xlabel="optimizer step", ylabel="weight", ylim=(0, 1), title="Modality weights w_m = u_m / sum u")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no valid trace was sampled: no weights logged", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    plt.close(fig)
    return fig


def scores_by_condition(runs: Mapping[str, Sequence], samples: Sequence[Sample], labels: Sequence[str]
                        ) -> pd.DataFrame:
    """Accuracy and UAR (percent) per SynthEmo condition and overall, for each model."""
    cond = {s.id: s.meta.get("condition", "all") for s in samples}
    rows = []
    for name, preds in runs.items():
        groups: dict[str, list] = {"all": list(preds)}
        for p in preds:
            groups.setdefault(cond[p.sample_id], []).append(p)
        for condition, group in groups.items():
            m = emotion_metrics([p.gold for p in group], [p.answer for p in group], labels)
            rows.append({"model": name, "condition": condition, "accuracy": 100 * m["accuracy"],
                         "UAR": 100 * m["uar"], "n": len(group)})
    table = pd.DataFrame(rows).pivot(index="condition", columns="model", values=["accuracy", "UAR"])
    return table.round(1)


def last_logged(path: str | Path, columns: Sequence[str] = ("dyme/w_vision", "dyme/w_audio", "dyme/H_vision",
                                                            "dyme/H_audio", "dyme/format_rate", "dyme/accuracy"),
                window: int = 5) -> dict[str, float]:
    """Mean of each column over the first and the last ``window`` logged steps: ``{column: (first, last)}``."""
    frame = read_log(path)
    out = {}
    for c in columns:
        if c in frame and frame[c].notna().any():
            values = frame[c].dropna()
            out[c] = (float(values.head(window).mean()), float(values.tail(window).mean()))
    return out


def reward_share_sentence(path: str | Path, alpha: float) -> str:
    """From a run's log: how large H_m, p_m and R_mod were, and what share of the reward alpha x R_mod made."""
    frame = read_log(path)

    def mean(column: str) -> float:
        return float(frame[column].mean()) if column in frame and frame[column].notna().any() else float("nan")

    total, modality = mean("reward"), mean("rewards/modality_reward/mean")
    share = 100 * alpha * modality / total if total and total == total and total > 0 else float("nan")
    return (f"Over {len(frame)} steps the guided tokens' entropies averaged H_vision = {mean('dyme/H_vision'):.4f} and "
            f"H_audio = {mean('dyme/H_audio'):.4f} nats, with p_vision = {mean('dyme/p_vision'):.3f} and p_audio = "
            f"{mean('dyme/p_audio'):.3f}; R_mod averaged {mean('dyme/R_mod'):.5f} on valid traces, so alpha x R_mod "
            f"(alpha = {alpha:g}) added {alpha * modality:.6f} to a mean reward of {total:.4f} ({share:.2f} % of it).")


def settings_table(settings: Any) -> pd.DataFrame:
    """A settings dataclass as a two-column table (setting, value), in field order.

    >>> @dataclasses.dataclass
    ... class Settings:
    ...     alpha: float = 0.1
    ...     rewards: tuple = ("format_accuracy", "modality")
    >>> settings_table(Settings(alpha=0.2))["value"].tolist()
    ['0.2', "('format_accuracy', 'modality')"]
    """
    values = {f.name: str(getattr(settings, f.name)) for f in dataclasses.fields(settings)}
    return pd.DataFrame({"value": values}).rename_axis("setting")


def advantage_share_sentence(path: str | Path) -> str:
    """From a run's log: the share of the advantage alpha x R_mod decided and how often the task reward was constant."""
    frame = read_log(path)
    column, groups = "dyme/advantage_share_alpha", "dyme/constant_task_groups"
    if column not in frame or not frame[column].notna().any():
        return "This log has no advantage share (no modality reward was computed, or the run predates it)."
    share, n = float(frame[column].mean()), int(frame[column].notna().sum())
    constant = float(frame[groups].mean()) if groups in frame and frame[groups].notna().any() else float("nan")
    return (f"GRPO trains on advantages, not rewards: over {n} steps alpha x R_mod decided {100 * share:.1f} % of the "
            f"summed absolute advantage, because in {100 * constant:.1f} % of the groups R_fmt x R_acc was the same "
            "for every completion, and there the group normalisation turns R_mod's tiny spread into the whole "
            "advantage.")
