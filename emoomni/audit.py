"""The metric audit: what the paper's WA, UAR and WAR columns really measure.

The paper defines WA as accuracy and WAR as support-weighted recall, which is also accuracy, yet
prints different WA and WAR values. Its Appendix F table gives per-class support, precision and
recall on IEMOCAP for OmniCoT-SFT and EmoOmni. From support and a printed percentage, the
integer true-positive and predicted counts can be recovered; a reading of the table is
*consistent* when integer counts reproduce every printed percentage (to rounding) and the
predicted counts add up to the number of samples. The recovered counts then give every standard
quantity, which can be matched against the columns of Tables 1 and 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emoomni import paper
from emoomni.metrics import metrics_from_counts

READINGS = ("as printed", "columns swapped")
TOLERANCE = 0.02  # percentage points: two-decimal rounding plus slack for the paper's own rounding
QUANTITY_NAMES = {
    "accuracy": "accuracy",
    "uar": "macro recall (UAR)",
    "weighted_precision": "support-weighted precision",
    "macro_precision": "macro precision",
    "weighted_f1": "support-weighted F1",
    "macro_f1": "macro F1",
}


def best_count(total: int, percent: float) -> int:
    """The integer k in [0, total] whose 100 * k / total is closest to ``percent``.

    >>> best_count(560, 88.75)
    497
    """
    k = int(round(total * percent / 100))
    return min(range(max(k - 1, 0), min(k + 1, total) + 1), key=lambda c: abs(100 * c / total - percent))


def best_denominator(tp: int, percent: float, upper: int) -> int | None:
    """The integer d >= tp (at most ``upper``) whose 100 * tp / d is closest to ``percent``; None if tp is 0.

    >>> best_denominator(222, 88.80, 4265)
    250
    """
    if tp == 0 or percent <= 0:
        return None
    d = int(round(100 * tp / percent))
    cands = [c for c in range(max(d - 1, tp), min(d + 1, upper) + 1)] or [tp]
    return min(cands, key=lambda c: abs(100 * tp / c - percent))


def reconstruct_counts(support, precision, recall) -> pd.DataFrame:
    """Recover per-class TP and predicted counts from support and printed precision and recall (percent).

    A class printed with precision 0 and recall 0 has an undetermined predicted count; it gets
    what remains of the total after the other classes (never less than zero).
    """
    n = np.asarray(support, dtype=int)
    rows = []
    for ni, p, r in zip(n, precision, recall):
        tp = best_count(int(ni), r)
        pred = best_denominator(tp, p, int(n.sum()))
        rows.append({"support": int(ni), "tp": tp, "predicted": pred, "precision_as_read": p, "recall_as_read": r})
    frame = pd.DataFrame(rows, index=getattr(support, "index", None))
    undetermined = frame["predicted"].isna()
    rest = int(n.sum() - frame.loc[~undetermined, "predicted"].sum())
    ok_zero = (frame["tp"] == 0) & (frame["precision_as_read"] == 0)
    frame.loc[undetermined & ok_zero, "predicted"] = max(rest, 0) if undetermined.sum() == 1 else 0
    frame["predicted"] = frame["predicted"].fillna(-1).astype(int)
    frame["recall_recomputed"] = 100 * frame["tp"] / frame["support"]
    pred = frame["predicted"].where(frame["predicted"] > 0)
    frame["precision_recomputed"] = (100 * frame["tp"] / pred).fillna(0.0)
    frame["consistent"] = (
        ((frame["recall_recomputed"] - frame["recall_as_read"]).abs() <= TOLERANCE)
        & ((frame["precision_recomputed"] - frame["precision_as_read"]).abs() <= TOLERANCE)
        & (frame["predicted"] >= frame["tp"])
    )
    return frame


@dataclass(frozen=True)
class ModelAudit:
    """The audit of one model's per-class table under both readings."""

    model: str
    counts: dict[str, pd.DataFrame]
    consistent_reading: str | None

    def summary(self) -> pd.DataFrame:
        """Per reading: classes whose printed numbers integer counts reproduce, and the predicted total."""
        return pd.DataFrame(
            {
                reading: {
                    "classes reproduced": f"{int(c['consistent'].sum())} of {len(c)}",
                    "predicted total": int(c["predicted"].clip(lower=0).sum()),
                    "samples": int(c["support"].sum()),
                }
                for reading, c in self.counts.items()
            }
        ).T


def audit_model(model: str) -> ModelAudit:
    """Reconstruct one model's IEMOCAP counts under both readings and pick the consistent one."""
    t3 = paper.table3()
    support = t3[("", "count")]
    prec, rec = t3[(model, "precision")], t3[(model, "recall")]
    counts = {
        "as printed": reconstruct_counts(support, prec.values, rec.values),
        "columns swapped": reconstruct_counts(support, rec.values, prec.values),
    }
    good = [
        r for r, c in counts.items()
        if c["consistent"].all() and int(c["predicted"].sum()) == int(c["support"].sum())
    ]
    return ModelAudit(model, counts, good[0] if len(good) == 1 else None)


def recomputed(audit: ModelAudit, reading: str | None = None) -> dict[str, float]:
    """Standard quantities (percent) from a model's reconstructed counts under a reading."""
    c = audit.counts[reading or audit.consistent_reading or "as printed"]
    m = metrics_from_counts(c["tp"], c["support"], c["predicted"].clip(lower=0), check=False)
    return {k: 100 * m[k] for k in QUANTITY_NAMES}


REPORTED = (
    # (model in Table 3, where the number is printed, paper column, value)
    ("EmoOmni", "Table 1, EmoOmni, IEMOCAP", "WA"),
    ("EmoOmni", "Table 1, EmoOmni, IEMOCAP", "UAR"),
    ("EmoOmni", "Table 1, EmoOmni, IEMOCAP", "WAR"),
    ("OmniCoT-SFT", "Table 2, OmniCoT, IEMOCAP", "UAR"),
    ("OmniCoT-SFT", "Table 2, OmniCoT, IEMOCAP", "WAR"),
)


def _reported_value(where: str, column: str) -> float:
    if where.startswith("Table 1"):
        return float(paper.table1().loc[("EmoOmni", "ours"), ("IEMOCAP", column)])
    return float(paper.table2().loc[("OmniCoT", "omnicot"), ("IEMOCAP", column)])


def column_matches() -> pd.DataFrame:
    """Each IEMOCAP number of Tables 1 and 2, and the recomputed quantities it equals under each reading."""
    audits = {m: audit_model(m) for m in ("OmniCoT-SFT", "EmoOmni")}
    rows = []
    for model, where, column in REPORTED:
        value = _reported_value(where, column)
        row = {"printed in": where, "column": column, "value": value, "counts from": model}
        for reading in READINGS:
            q = recomputed(audits[model], reading)
            hits = [QUANTITY_NAMES[k] for k, v in q.items() if abs(v - value) <= 0.02]
            row[f"equals ({reading})"] = ", ".join(hits) or "nothing"
        rows.append(row)
    return pd.DataFrame(rows)


def uar_without(model: str, label: str) -> float:
    """Macro recall (percent) of a model with one class left out, from the consistent counts."""
    a = audit_model(model)
    c = a.counts[a.consistent_reading or "as printed"]
    c = c.drop(index=label)
    return float((100 * c["tp"] / c["support"]).mean())
