import numpy as np
import pytest
from sklearn.metrics import accuracy_score, recall_score

from emoomni.metrics import UNKNOWN, confusion, emotion_metrics, metrics_from_counts, per_class_table

KEYS = {"accuracy", "uar", "war", "weighted_precision", "weighted_f1", "macro_f1", "unknown_rate"}


def test_keys_and_hand_computed_values():
    y_true = ["a", "a", "a", "a", "b", "b", "c", "c"]
    y_pred = ["a", "a", "a", None, "b", "a", "c", None]
    m = emotion_metrics(y_true, y_pred)
    assert KEYS <= set(m)
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["war"] == m["accuracy"]
    assert m["uar"] == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    # precision: a = 3/4, b = 1, c = 1; weights 4, 2, 2
    assert m["weighted_precision"] == pytest.approx((4 * 0.75 + 2 * 1 + 2 * 1) / 8)
    assert m["unknown_rate"] == pytest.approx(2 / 8)


def test_unknown_is_never_a_class_and_always_wrong():
    y_true = ["a", "b"]
    m = emotion_metrics(y_true, [None, None])
    assert m["accuracy"] == 0 and m["uar"] == 0 and m["unknown_rate"] == 1
    assert UNKNOWN not in per_class_table(y_true, [None, None]).index


def test_matches_sklearn_on_random_labels():
    rng = np.random.default_rng(0)
    labels = ["x", "y", "z"]
    y_true = list(rng.choice(labels, 200))
    y_pred = list(rng.choice(labels + [None], 200))
    m = emotion_metrics(y_true, y_pred, labels)
    filled = [p or "?" for p in y_pred]
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, filled))
    assert m["uar"] == pytest.approx(recall_score(y_true, filled, labels=labels, average="macro", zero_division=0))


def test_counts_agree_with_label_lists():
    rng = np.random.default_rng(1)
    labels = ["x", "y", "z", "w"]
    y_true = list(rng.choice(labels, 300, p=[0.5, 0.3, 0.15, 0.05]))
    y_pred = list(rng.choice(labels + [None], 300))
    table = per_class_table(y_true, y_pred, labels)
    tp = (table["recall"] * table["support"]).round().astype(int)
    from_counts = metrics_from_counts(tp, table["support"], table["predicted"])
    direct = emotion_metrics(y_true, y_pred, labels)
    for key in KEYS | {"macro_precision"}:
        assert from_counts[key] == pytest.approx(direct[key]), key


def test_confusion_has_unknown_column_and_row_sums():
    c = confusion(["a", "a", "b"], ["a", None, "a"], ["a", "b"])
    assert list(c.columns) == ["a", "b", UNKNOWN]
    assert c.loc["a", UNKNOWN] == 1 and c.loc["b", "a"] == 1
    assert c.sum(axis=1).tolist() == [2, 1]


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="y_true has 2 items but y_pred has 1"):
        emotion_metrics(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no samples"):
        emotion_metrics([], [])
    with pytest.raises(ValueError, match="inconsistent counts"):
        metrics_from_counts([3], [2], [3])
