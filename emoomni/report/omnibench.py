"""OmniBench figures and tables: accuracy per task type for several models (the paper's general-ability check)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from emoomni.evaluate.omnibench import accuracy_by_task


def task_table(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Accuracy (percent) per task type, one column per model, ``overall`` last; a task a model lacks is NaN."""
    if not runs:
        raise ValueError("no runs to compare")
    columns = {name: accuracy_by_task(records)["accuracy"] * 100 for name, records in runs.items()}
    order = list(dict.fromkeys(t for col in columns.values() for t in col.index if t != "overall"))
    table = pd.DataFrame(columns).reindex(order + ["overall"])
    table.index.name = "task type"
    return table.round(1)


def failure_table(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Per model: questions answered, the share of unparseable replies (percent) and the items lost to media errors."""
    if not runs:
        raise ValueError("no runs to compare")
    rows = {name: accuracy_by_task(records).loc["overall"] for name, records in runs.items()}
    table = pd.DataFrame({name: {"answered": int(r["n"]),
                                 "unparseable (%)": round(100 * float(r["unparseable_rate"]), 1),
                                 "media errors": int(r["errors"])}
                          for name, r in rows.items()}).T
    table.index.name = "model"
    return table


def _label(task: str) -> str:
    return textwrap.fill(task, 14)


def task_chart(runs: Mapping[str, Sequence[Mapping[str, Any]]], title: str = "OmniBench accuracy per task type"):
    """Accuracy per task type for each model: a radar chart with three task types or more, else grouped bars."""
    full = task_table(runs)
    table, overall = full.drop(index="overall"), full.loc["overall"]
    tasks, names = list(table.index), list(table.columns)
    legend = [f"{name} (overall {overall[name]:.1f} %)" for name in names]
    if len(tasks) >= 3:
        fig, ax = plt.subplots(figsize=(6.5, 6.5), subplot_kw={"projection": "polar"})
        angles = np.linspace(0, 2 * np.pi, len(tasks), endpoint=False)
        closed = np.append(angles, angles[0])
        for name, label in zip(names, legend):
            values = table[name].to_numpy(dtype=float)
            ring = np.append(values, values[0])
            ax.plot(closed, ring, "o-", linewidth=1.5, markersize=3, label=label)
            ax.fill(closed, np.nan_to_num(ring), alpha=0.08)
        ax.set_xticks(angles, [_label(t) for t in tasks], fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_yticks([20, 40, 60, 80, 100], ["20", "40", "60", "80", "100 %"], fontsize=7)
        ax.set_title(title, pad=24)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=8, ncol=min(2, len(names)))
    else:
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(tasks) * len(names) + 1.5), 3.8))
        width = 0.8 / len(names)
        x = np.arange(len(tasks))
        for k, (name, label) in enumerate(zip(names, legend)):
            ax.bar(x + (k - (len(names) - 1) / 2) * width, table[name].to_numpy(dtype=float), width, label=label)
        ax.set_xticks(x, [_label(t) for t in tasks], fontsize=8)
        ax.set(ylim=(0, 100), ylabel="accuracy (%)", title=title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig
