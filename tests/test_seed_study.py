"""The seed study's numbers: intervals per arm, paired differences, generated verdicts, and the figures."""

import matplotlib.figure
import pytest

from emoomni.evaluate import seed_study
from emoomni.report import collapse as collapse_report


def arm(acc: list[int], col: list[int], drop_v: list[int], seeds: int = 3) -> list[dict]:
    return [{"accuracy": acc, "collapse": col, "drop vision": drop_v, "drop audio": [0] * len(drop_v),
             "drop text": [0] * len(drop_v)} for _ in range(seeds)]


@pytest.fixture
def outcomes():
    return {"SFT": arm([1, 1, 0, 0] * 10, [0] * 20, [1, 1, 1, 0] * 5),
            "DyME": arm([1, 1, 1, 0] * 10, [1, 0] * 10, [0, 0, 1, 0] * 5)}


def test_the_table_gives_each_arm_its_mean_and_interval(outcomes):
    table = seed_study.table(outcomes)
    assert table.index.name == "arm (3 seeds)" and list(table.columns) == list(seed_study.METRICS)
    assert table.loc["SFT", "accuracy"].startswith("50.0 [") and table.loc["DyME", "collapse"].startswith("50.0 [")
    assert table.loc["SFT", "drop audio"] == "0.0 [0.0, 0.0]"


def test_differences_are_paired_and_verdicts_follow_the_intervals(outcomes):
    diffs = seed_study.differences(outcomes, [("SFT", "DyME")])[("SFT", "DyME")]
    assert diffs["accuracy"].estimate == pytest.approx(25.0) and diffs["accuracy"].excludes_zero()
    assert diffs["drop vision"].estimate == pytest.approx(-50.0) and diffs["drop vision"].excludes_zero()
    assert not diffs["drop audio"].excludes_zero()
    text = seed_study.verdicts(outcomes, [("SFT", "DyME")])
    assert text[0].startswith("DyME beats SFT on accuracy by 25.0 points")
    assert text[1].startswith("DyME beats SFT on accuracy on the collapse subset by 50.0 points")
    assert text[2].startswith("DyME loses 50.0 points less than SFT without the face")
    assert text[3].startswith("DyME and SFT lose the same without the voice, within the noise")
    assert "*" in seed_study.differences_table(outcomes, [("SFT", "DyME")]).loc["SFT → DyME", "accuracy"]


def test_seeds_evaluated_on_different_clips_are_refused():
    with pytest.raises(ValueError, match="different numbers of clips"):
        seed_study.matrix([{"accuracy": [1, 0]}, {"accuracy": [1]}], "accuracy")
    with pytest.raises(ValueError, match="same seeds and clips"):
        seed_study.differences({"A": arm([1] * 4, [1], [1], seeds=2), "B": arm([1] * 4, [1], [1], seeds=3)},
                               [("A", "B")])


def test_the_figures_draw_every_arm_and_metric(outcomes):
    fig = collapse_report.study_chart(outcomes)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == len(seed_study.METRICS)
    sig = {"agree": 90.0, "neutralised": 30.0, "dissent": 20.0, "other": 80.0, "collapse": 25.0,
           "follows_shortcut": 70.0, **{f"n_{k}": 10 for k in ("agree", "neutralised", "dissent", "other")}}
    result = {"name": "SFT label only", "shortcut": "vision", "signature": sig, "collapsed": True,
              "drops": {"vision": 40.0, "audio": 5.0, "text": 12.0}}
    assert len(collapse_report.signature_chart(result).axes) == 2
    assert "shows the collapse signature" in collapse_report.signature_sentence(result)
