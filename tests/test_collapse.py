"""The collapse signature on hand-built predictions: subsets, accuracies, following the shortcut, the decision."""

import pytest

from emoomni.data.manifest import Sample
from emoomni.evaluate.collapse import collapsed, hits, signature, subsets
from emoomni.evaluate.predict import Prediction


def clip(i: int, condition: str, vision: str, audio: str = "sad", text: str = "sad") -> Sample:
    return Sample(f"c{i}", "synthemo", "test", label="sad",
                  meta={"condition": condition, "cues": {"vision": vision, "audio": audio, "text": text}})


CLIPS = [clip(0, "agree", "sad"), clip(1, "agree", "sad"), clip(2, "agree", "sad"), clip(3, "agree", "sad"),
         clip(4, "poker_face", "neutral"), clip(5, "poker_face", "neutral"),
         clip(6, "conflict", "happy"), clip(7, "conflict", "angry"),
         clip(8, "flat_voice", "sad", audio="neutral"), clip(9, "conflict", "sad", text="happy")]


def pred(i: int, answer: str | None) -> Prediction:
    return Prediction(f"c{i}", "", answer, "sad", True)


def test_subsets_follow_the_shortcut():
    by = subsets(CLIPS, "vision")
    assert by["agree"] == ["c0", "c1", "c2", "c3"] and by["neutralised"] == ["c4", "c5"]
    assert by["dissent"] == ["c6", "c7"] and by["collapse"] == ["c4", "c5", "c6", "c7"] and by["other"] == ["c8", "c9"]
    assert subsets(CLIPS, "audio")["neutralised"] == ["c8"]  # another shortcut, other subsets


def test_a_collapsed_model_hand_computed():
    # right on every agree clip; on the collapse subset it answers the face: neutral, neutral, happy, angry
    answers = ["sad"] * 4 + ["neutral", "sad", "happy", "angry", "sad", "sad"]
    sig = signature([pred(i, a) for i, a in enumerate(answers)], CLIPS, "vision")
    assert sig["agree"] == 100.0 and sig["neutralised"] == 50.0 and sig["dissent"] == 0.0
    assert sig["collapse"] == 25.0 and sig["gap"] == 75.0 and sig["follows_shortcut"] == 100.0
    assert sig["other"] == 100.0 and sig["n_collapse"] == 4
    assert collapsed(sig, {"vision": 40.0, "audio": 10.0, "text": 12.5}, "vision")
    assert not collapsed(sig, {"vision": 40.0, "audio": 10.0, "text": 45.0}, "vision")  # the words matter more
    assert not collapsed({**sig, "gap": 10.0}, {"vision": 40.0, "audio": 10.0, "text": 12.5}, "vision")


def test_a_missing_prediction_is_an_error_not_a_miss():
    assert hits([pred(0, "sad"), pred(1, None)], ["c0", "c1"]) == [1, 0]
    with pytest.raises(KeyError, match="no prediction"):
        hits([pred(0, "sad")], ["c0", "c1"])
