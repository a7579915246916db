"""The results chapter: Tables 1-3 beside the paper's, the alpha ablation figure, seed spreads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd

from emoomni.metrics import per_class_table


def table1(rows: Sequence[Mapping]) -> pd.DataFrame:
    """Models x benchmarks with the paper's WA / UAR / WAR (honest names in the audit) plus F1 and unknown (%)."""
    frame = pd.DataFrame([r for r in rows if r.get("available", True)])
    if frame.empty:
        return frame
    out = pd.DataFrame({
        "benchmark": frame["benchmark"], "model": frame["model"],
        "WA (weighted precision)": 100 * frame["weighted_precision"], "UAR": 100 * frame["uar"],
        "WAR (accuracy)": 100 * frame["accuracy"], "weighted F1": 100 * frame["weighted_f1"],
        "unknown": 100 * frame["unknown_rate"], "valid format": 100 * frame["valid_format"], "n": frame["n"]})
    return out.set_index(["benchmark", "model"]).round(2)


def unavailable(rows: Sequence[Mapping]) -> list[str]:
    """The benchmarks that could not be evaluated on this machine (no local copy).

    >>> unavailable([{"benchmark": "meld", "available": False}, {"benchmark": "synthemo", "available": True}])
    ['meld']
    """
    return sorted({r["benchmark"] for r in rows if not r.get("available", True)})


def table2(results: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Reasoning styles at equal training size: UAR and WAR (accuracy) per style, percent."""
    return pd.DataFrame({style: {"UAR": 100 * r["uar"], "WAR (accuracy)": 100 * r["accuracy"],
                                 "valid format": 100 * r["valid_format"]}
                         for style, r in results.items()}).T.round(2)


def table3(preds: Mapping[str, Sequence], labels: Sequence[str]) -> pd.DataFrame:
    """Per-class precision and recall (percent) for each model, side by side, with the class support."""
    parts = []
    for name, p in preds.items():
        t = per_class_table([x.gold for x in p], [x.answer for x in p], labels)
        t = t[["precision", "recall"]] * 100
        t.columns = pd.MultiIndex.from_product([[name], t.columns])
        parts.append(t)
    return pd.concat(parts, axis=1).round(2)


def alpha_figure(sweep: pd.DataFrame, paper_peak: float | None = None, benchmark: str = "SynthEmo test"):
    """UAR and WAR against alpha, with the alpha at which the paper reports its peak marked."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    x = sweep.index.to_numpy(dtype=float)
    for column, style in (("UAR", "o-"), ("WAR", "s--")):
        ax.plot(x, sweep[column], style, label=column)
    if paper_peak is not None:
        ax.axvline(paper_peak, color="grey", ls=":", label=f"paper's peak (alpha = {paper_peak:g})")
    ax.set(xlabel="alpha", ylabel="percent", title=f"Alpha ablation on {benchmark}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def alpha_sentence(sweep: pd.DataFrame, paper_peak: float | None = None,
                   metrics: Sequence[str] = ("UAR", "WAR")) -> str:
    """Say, from an ablation table indexed by alpha, where each metric peaks and how far its values spread.

    >>> table = pd.DataFrame({"UAR": [20.0, 30.0, 25.0], "WAR": [40.0, 40.0, 35.0]}, index=[0.0, 0.1, 0.5])
    >>> print(alpha_sentence(table, 0.1).replace("; W", ";\\nW"))
    UAR peaks at alpha = 0.1 (30.0 %; range over alphas 10.0 points);
    WAR peaks at alpha = 0 and 0.1 (40.0 %; range over alphas 5.0 points). The paper reports its peak at alpha = 0.1.
    """
    parts = []
    for m in metrics:
        values = sweep[m].astype(float)
        best = " and ".join(f"{float(a):g}" for a, v in values.items() if v == values.max())
        parts.append(f"{m} peaks at alpha = {best} ({values.max():.1f} %; range over alphas "
                     f"{values.max() - values.min():.1f} points)")
    sentence = "; ".join(parts) + "."
    if paper_peak is not None:
        sentence += f" The paper reports its peak at alpha = {paper_peak:g}."
    return sentence
