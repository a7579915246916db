import pytest

from emoomni import audit, paper
from emoomni.metrics import PAPER_COLUMNS


def test_emoomni_table_is_consistent_as_printed():
    a = audit.audit_model("EmoOmni")
    assert a.consistent_reading == "as printed"
    counts = a.counts["as printed"]
    assert counts["tp"].tolist() == [1117, 497, 222, 632, 0, 12]
    assert counts["predicted"].sum() == counts["support"].sum() == 4265


def test_sft_table_is_consistent_only_with_columns_swapped():
    a = audit.audit_model("OmniCoT-SFT")
    assert a.consistent_reading == "columns swapped"
    assert not a.counts["as printed"]["consistent"].all()
    assert a.counts["columns swapped"]["tp"].tolist() == [1194, 422, 275, 560, 3, 9]


def test_table1_columns_map_to_standard_quantities():
    q = audit.recomputed(audit.audit_model("EmoOmni"))
    reported = paper.table1().loc[("EmoOmni", "ours"), "IEMOCAP"]
    for column, quantity in PAPER_COLUMNS.items():
        assert q[quantity] == pytest.approx(reported[column], abs=0.01), column


def test_table2_omnicot_war_is_accuracy_and_uar_is_macro_precision():
    q = audit.recomputed(audit.audit_model("OmniCoT-SFT"))
    reported = paper.table2().loc[("OmniCoT", "omnicot"), "IEMOCAP"]
    assert q["accuracy"] == pytest.approx(reported["WAR"], abs=0.01)
    assert q["macro_precision"] == pytest.approx(reported["UAR"], abs=0.02)
    assert q["uar"] == pytest.approx(41.99, abs=0.01)


def test_appendix_f_uar_without_fear_is_reproduced():
    assert audit.uar_without("EmoOmni", "fearful") == pytest.approx(
        paper.reported()["appendix_f_uar_without_fear"]["value"], abs=0.01
    )


def test_column_matches_table_names_every_reported_number():
    t = audit.column_matches()
    assert len(t) == 5
    readings = [c for c in t.columns if c.startswith("equals (")]
    assert len(readings) == 2
    assert (t[readings] != "nothing").any(axis=1).all()  # "nothing" is the fallback when no quantity matches
    assert t.loc[3, "equals (as printed)"] == "nothing"  # Table 2's UAR is macro precision: only when swapped
    assert t.loc[0, "equals (as printed)"] == "support-weighted precision"


def test_best_count_and_denominator_recover_known_fractions():
    assert audit.best_count(38, 7.89) == 3
    assert audit.best_denominator(3, 9.68, 4265) == 31
    assert audit.best_denominator(0, 0.0, 10) is None
