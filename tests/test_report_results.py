"""Results-chapter tables and figures on small fixture results."""

import matplotlib.figure
import pandas as pd

from emoomni.evaluate.predict import Prediction
from emoomni.report import results

LABELS = ("happy", "sad")


def _row(bench, model, acc, available=True):
    return {"benchmark": bench, "model": model, "available": available, "accuracy": acc, "uar": acc / 2,
            "weighted_precision": 0.5, "weighted_f1": 0.4, "unknown_rate": 0.1, "valid_format": 1.0, "n": 10}


def test_table1_maps_the_paper_columns_and_lists_what_is_missing():
    rows = [_row("synthemo", "base", 0.2), _row("synthemo", "dyme", 0.3), {"benchmark": "meld", "available": False}]
    table = results.table1(rows)
    assert table.loc[("synthemo", "dyme"), "WAR (accuracy)"] == 30 and table.loc[("synthemo", "dyme"), "UAR"] == 15
    assert table.loc[("synthemo", "base"), "WA (weighted precision)"] == 50
    assert results.unavailable(rows) == ["meld"]
    assert results.table1([{"benchmark": "meld", "available": False}]).empty


def test_table2_table3_and_the_alpha_figure():
    t2 = results.table2({"label": {"uar": 0.2, "accuracy": 0.25, "valid_format": 0.0}})
    assert t2.loc["label", "WAR (accuracy)"] == 25
    preds = [Prediction(sample_id=f"s{i}", text="", answer=a, gold=g, valid_format=True)
             for i, (g, a) in enumerate([("happy", "happy"), ("sad", "happy"), ("sad", None)])]
    t3 = results.table3({"m": preds}, LABELS)
    assert t3.loc["happy", ("m", "precision")] == 50 and t3.loc["sad", ("m", "recall")] == 0
    sweep = pd.DataFrame({"UAR": [10, 20], "WAR": [15, 25]}, index=pd.Index([0.0, 0.1], name="alpha"))
    fig = results.alpha_figure(sweep, paper_peak=0.1)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes[0].lines) == 3
