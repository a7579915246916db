"""The paper's reported numbers, stored as data with their source (table and row)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import pandas as pd


@cache
def reported() -> dict:
    """The paper's tables as printed (percent), with a ``source`` entry per table."""
    return json.loads(resources.files("emoomni.resources").joinpath("paper_results.json").read_text())


def _results_frame(table: str, keys: tuple[str, str]) -> pd.DataFrame:
    """One row per entry of a results table, indexed by ``keys``, columns (benchmark, paper column)."""
    data = {
        tuple(r[k] for k in keys): {(b, c): v for b, cols in r["results"].items() for c, v in cols.items()}
        for r in reported()[table]["rows"]
    }
    frame = pd.DataFrame.from_dict(data, orient="index")
    frame.index.names = list(keys)
    return frame


def table1() -> pd.DataFrame:
    """Table 1 as a frame: one row per model and variant, columns (benchmark, paper column)."""
    return _results_frame("table1", ("model", "variant"))


def table2() -> pd.DataFrame:
    """Table 2 as a frame: one row per training data / reasoning style, columns (benchmark, paper column)."""
    return _results_frame("table2", ("data", "style"))


def table3() -> pd.DataFrame:
    """Table 3 (IEMOCAP per class) as printed: count, then precision and recall per model."""
    rows = reported()["table3"]["rows"]
    frame = pd.DataFrame(
        {
            ("", "count"): [r["count"] for r in rows],
            **{
                (model, q): [r[model][q] for r in rows]
                for model in ("OmniCoT-SFT", "EmoOmni")
                for q in ("precision", "recall")
            },
        },
        index=pd.Index([r["label"] for r in rows], name="label"),
    )
    return frame
