"""Tables for the book, each built by one function from stored results or the paper's numbers."""

from __future__ import annotations

import pandas as pd

from emoomni import audit, paper
from emoomni.metrics import PAPER_COLUMNS

_PCT = "{:.2f}".format


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 as printed, labelled as the paper's numbers."""
    t = paper.table1()
    t.columns = pd.MultiIndex.from_tuples([(b, f"{c} (paper)") for b, c in t.columns])
    return t


def column_mapping() -> pd.DataFrame:
    """The paper's column names and the honest quantity each one reports, as the audit found."""
    return pd.DataFrame(
        {
            "paper column": list(PAPER_COLUMNS),
            "paper's definition": ["accuracy (Eq. 12)", "macro recall (Eq. 13)", "support-weighted recall = accuracy (Eq. 14)"],
            "what Table 1 reports": [audit.QUANTITY_NAMES[q] for q in PAPER_COLUMNS.values()],
            "library key": list(PAPER_COLUMNS.values()),
        }
    )


def audit_consistency() -> pd.DataFrame:
    """For each model of Appendix F and each reading of its columns: classes reproduced, predicted total."""
    frames = {m: audit.audit_model(m).summary() for m in ("OmniCoT-SFT", "EmoOmni")}
    out = pd.concat(frames, names=["model", "reading"])
    out["consistent"] = [
        audit.audit_model(m).consistent_reading == r for m, r in out.index
    ]
    return out


def audit_counts(model: str) -> pd.DataFrame:
    """A model's reconstructed per-class counts under its consistent reading."""
    a = audit.audit_model(model)
    c = a.counts[a.consistent_reading or "as printed"]
    return c[["support", "tp", "predicted", "recall_as_read", "recall_recomputed", "precision_as_read", "precision_recomputed"]].round(2)


def audit_recomputed() -> pd.DataFrame:
    """Standard quantities (percent) recomputed from each model's consistent counts."""
    rows = {}
    for m in ("OmniCoT-SFT", "EmoOmni"):
        a = audit.audit_model(m)
        rows[f"{m} ({a.consistent_reading})"] = {audit.QUANTITY_NAMES[k]: round(v, 2) for k, v in audit.recomputed(a).items()}
    return pd.DataFrame(rows).T


def audit_matches() -> pd.DataFrame:
    """Every IEMOCAP number of Tables 1 and 2 beside the recomputed quantities it equals."""
    return audit.column_matches()
