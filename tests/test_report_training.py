"""Training-chapter figures and tables on small fixture results."""

import matplotlib.figure
import pandas as pd

from emoomni.data.manifest import Sample
from emoomni.evaluate.predict import Prediction
from emoomni.report import training

LABELS = ("happy", "sad")


def _pred(i, gold, answer, valid):
    return Prediction(sample_id=f"s{i}", text="x", answer=answer, gold=gold, valid_format=valid,
                      stats={"vision": None, "audio": None}, p_star=None)


def test_summary_sentence_and_conditions(tmp_path):
    before = [_pred(0, "happy", None, False), _pred(1, "sad", "happy", False)]
    after = [_pred(0, "happy", "happy", True), _pred(1, "sad", "sad", True)]
    runs = {"base": before, "sft": after}
    table = training.prediction_summary(runs, LABELS)
    assert table.loc["sft", "accuracy"] == 100 and table.loc["base", "unknown"] == 50
    assert "sft: 100.0 % of the 2 outputs are valid" in training.before_after_sentence(runs, LABELS)
    assert "rises from 0.0 % to 100.0 %" in training.before_after_sentence(runs, LABELS)
    assert "not a sign" not in training.before_after_sentence(runs, LABELS)
    one_class = {"base": before, "sft": [_pred(0, "happy", "sad", True), _pred(1, "sad", "sad", True)]}
    assert "It answers 'sad' for 100 % of the clips" in training.before_after_sentence(one_class, LABELS)
    silent = {"base": before, "sft": [_pred(0, "happy", None, False), _pred(1, "sad", None, False)]}
    assert training.before_after_sentence(silent, LABELS).endswith("It gives no parseable answer for 100 % of the clips.")
    samples = [Sample("s0", "synthemo", "test", video="a.mp4", label="happy", meta={"condition": "agree"}),
               Sample("s1", "synthemo", "test", video="b.mp4", label="sad", meta={"condition": "poker_face"})]
    cond = training.accuracy_by_condition(runs, samples)
    assert cond.loc["poker_face", "base"] == 0 and cond.loc["poker_face", "sft"] == 100
    log = tmp_path / "log.csv"
    pd.DataFrame({"step": [1, 2, 2], "loss": [2.0, 1.0, None], "eval_loss": [None, None, 1.5]}).to_csv(log, index=False)
    assert isinstance(training.loss_curves({"run": log}), matplotlib.figure.Figure)
    assert list(training.example_outputs(after, 1)["gold"]) == ["happy"]


def test_section_cue_recovery_reads_the_suggested_label_per_section():
    samples = [Sample("s0", "synthemo", "test", video="a.mp4", label="sad",
                      meta={"cues": {"vision": "sad", "audio": "angry", "text": "sad"}})]
    text = ("<think>\n[vision] The brows lower. Reason: the expression suggests sad.\n[audio] Loud. Reason: the voice "
            "suggests happy.\n[dialogue] x\n[analysis] y\n</think>\n<answer>sad</answer>")
    pred = Prediction(sample_id="s0", text=text, answer="sad", gold="sad", valid_format=True,
                      stats={"vision": None, "audio": None}, p_star=None)
    table = training.section_cue_recovery({"m": [pred]}, samples)
    assert table.loc["m", "vision cue named (%)"] == 100 and table.loc["m", "audio cue named (%)"] == 0
    assert table.loc["m", "audio sections"] == 1
