"""Emotion-recognition metrics under their honest names, with unparseable answers counted wrong."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

UNKNOWN = "<unknown>"

# The paper's column names and the quantity each one reports (see emoomni.audit and the book's
# metric audit): its "WA" is support-weighted precision, "UAR" macro recall, "WAR" accuracy.
PAPER_COLUMNS = {"WA": "weighted_precision", "UAR": "uar", "WAR": "accuracy"}


def _prepare(y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str] | None):
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    if not len(y_true):
        raise ValueError("no samples to score")
    if any(t is None for t in y_true):
        raise ValueError("y_true contains None; every scored sample needs a gold label")
    pred = [UNKNOWN if p is None else p for p in y_pred]
    labels = list(labels) if labels is not None else sorted(set(y_true))
    present = [lab for lab in labels if lab in set(y_true)]
    return list(y_true), pred, labels, present


def emotion_metrics(
    y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str] | None = None
) -> dict[str, float]:
    """Accuracy (= WAR), UAR, weighted precision, weighted and macro F1, and the unknown rate.

    ``None`` in ``y_pred`` marks an unparseable answer: it counts as wrong for every class and is
    reported as ``unknown_rate``. Class averages run over the classes present in ``y_true``
    (weighted ones by their support there); ``labels`` fixes the class list and order.

    >>> m = emotion_metrics(["a", "a", "a", "b"], ["a", "a", None, "a"])
    >>> m["accuracy"], m["uar"], m["unknown_rate"]
    (0.5, 0.3333333333333333, 0.25)
    >>> round(m["weighted_precision"], 4)
    0.5
    """
    t, p, _, present = _prepare(y_true, y_pred, labels)
    prec, rec, _, _ = precision_recall_fscore_support(t, p, labels=present, zero_division=0)
    support = np.array([t.count(lab) for lab in present], dtype=float)
    acc = float(accuracy_score(t, p))
    return {
        "accuracy": acc,
        "uar": float(rec.mean()),
        "war": acc,
        "weighted_precision": float((prec * support).sum() / support.sum()),
        "macro_precision": float(prec.mean()),
        "weighted_f1": float(f1_score(t, p, labels=present, average="weighted", zero_division=0)),
        "macro_f1": float(f1_score(t, p, labels=present, average="macro", zero_division=0)),
        "unknown_rate": p.count(UNKNOWN) / len(p),
        "n": len(p),
    }


def per_class_table(
    y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-class precision, recall, F1, support and predicted count, one row per label.

    >>> per_class_table(["a", "b", "b"], ["a", "a", None])[["precision", "recall", "support"]]
           precision  recall  support
    label                            
    a            0.5     1.0        1
    b            0.0     0.0        2
    """
    t, p, labels, _ = _prepare(y_true, y_pred, labels)
    prec, rec, f1, sup = precision_recall_fscore_support(t, p, labels=labels, zero_division=0)
    predicted = [p.count(lab) for lab in labels]
    return pd.DataFrame(
        {"precision": prec, "recall": rec, "f1": f1, "support": sup, "predicted": predicted},
        index=pd.Index(labels, name="label"),
    )


def confusion(
    y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str] | None = None
) -> pd.DataFrame:
    """Confusion counts, gold labels as rows and predictions as columns, plus an ``<unknown>`` column.

    >>> confusion(["a", "b"], ["a", None]).loc["b", "<unknown>"]
    np.int64(1)
    """
    t, p, labels, _ = _prepare(y_true, y_pred, labels)
    cols = labels + [UNKNOWN]
    m = confusion_matrix(t, p, labels=cols)[: len(labels)]
    return pd.DataFrame(m, index=pd.Index(labels, name="gold"), columns=pd.Index(cols, name="predicted"))


def metrics_from_counts(
    tp: Sequence[int], support: Sequence[int], predicted: Sequence[int], check: bool = True
) -> dict[str, float]:
    """The same quantities as :func:`emotion_metrics`, from per-class counts alone.

    ``tp``, ``support`` and ``predicted`` are per-class true positives, gold counts and predicted
    counts; predictions outside every class (``sum(support) - sum(predicted)``) are unknown.
    ``check=False`` scores counts that cannot all be true at once (used to score a rejected
    reading of a printed table).

    >>> m = metrics_from_counts([2, 0], [3, 1], [3, 0])
    >>> m["accuracy"], m["uar"], round(m["weighted_precision"], 4), m["unknown_rate"]
    (0.5, 0.3333333333333333, 0.5, 0.25)
    """
    tp, n, p = (np.asarray(x, dtype=float) for x in (tp, support, predicted))
    if check and ((tp > n).any() or (tp > p).any() or (p.sum() > n.sum())):
        raise ValueError("inconsistent counts: tp exceeds support or predicted, or more predictions than samples")
    rec = np.divide(tp, n, out=np.zeros_like(tp), where=n > 0)
    prec = np.divide(tp, p, out=np.zeros_like(tp), where=p > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    present = n > 0
    w = n[present] / n.sum()
    acc = float(tp.sum() / n.sum())
    return {
        "accuracy": acc,
        "uar": float(rec[present].mean()),
        "war": acc,
        "weighted_precision": float((w * prec[present]).sum()),
        "macro_precision": float(prec[present].mean()),
        "weighted_f1": float((w * f1[present]).sum()),
        "macro_f1": float(f1[present].mean()),
        "unknown_rate": float(1 - p.sum() / n.sum()),
        "n": int(n.sum()),
    }
