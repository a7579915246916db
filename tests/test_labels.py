import pytest

from emoomni.labels import LABEL_SETS, SYNONYMS, extract_answer, label_set


def test_label_sets_have_the_documented_sizes():
    sizes = {"ravdess": 8, "iemocap4": 4, "iemocap6": 6, "iemocap_paper": 6, "meld": 7, "mer2023": 6, "mer2025": 6, "dfew": 7}
    for name, n in sizes.items():
        assert len(LABEL_SETS[name].labels) == n, name
        assert len(set(LABEL_SETS[name].labels)) == n
    assert "calm" in LABEL_SETS["ravdess"].labels
    assert set(LABEL_SETS["mer2025"].labels) == {"neutral", "angry", "happy", "sad", "worried", "surprised"}


def test_every_label_is_a_canonical_synonym_target():
    canon = set(SYNONYMS.values())
    for ls in LABEL_SETS.values():
        assert set(ls.labels) <= canon, ls.name


@pytest.mark.parametrize(
    "text, dataset, expected",
    [
        ("<answer>Happiness</answer>", "ravdess", "happy"),
        ("<answer>joy</answer>", "meld", "happy"),
        ("<answer>*Anger*</answer>", "meld", "angry"),
        ("<answer>__fearful__</answer>", "ravdess", "fearful"),
        ("<answer>fear</answer>", "meld", "fearful"),
        ("<answer>Surprised!</answer>", "mer2025", "surprised"),
        ("<answer>surprise</answer>", "dfew", "surprised"),
        ("<answer>sadness.</answer>", "iemocap4", "sad"),
        ("<answer>excited</answer>", "iemocap4", "happy"),
        ("<answer>excited</answer>", "iemocap6", "excited"),
        ("<answer>Frustrated</answer>", "iemocap6", "frustrated"),
        ("<answer>worried</answer>", "mer2023", "worried"),
        ("<answer>anxious</answer>", "mer2025", "worried"),
        ("<answer>calm</answer>", "ravdess", "calm"),
        ("The emotion is: **Neutral**", "meld", "neutral"),
        ("<answer>happy</answer> <answer>joy</answer>", "meld", "happy"),
        ("<answer>angry", "meld", "angry"),
    ],
)
def test_extract_answer_maps_surface_forms(text, dataset, expected):
    assert extract_answer(text, dataset) == expected


@pytest.mark.parametrize(
    "text, dataset",
    [
        ("<answer>happy or sad</answer>", "meld"),
        ("<answer>I am not sure</answer>", "meld"),
        ("", "meld"),
        (None, "meld"),
        ("<answer>calm</answer>", "meld"),  # calm is not a MELD class
        ("<answer>excited</answer>", "meld"),
        ("<answer>happy</answer><answer>sad</answer>", "meld"),
        ("She looks sad but sounds angry.", "ravdess"),
        ("<answer>happily ever after</answer>", "meld"),
    ],
)
def test_extract_answer_returns_none_without_a_single_label(text, dataset):
    assert extract_answer(text, dataset) is None


def test_the_answer_span_wins_over_the_reasoning():
    text = "<think>[vision] a sad face [audio] angry voice</think><answer>angry</answer>"
    assert extract_answer(text, "ravdess") == "angry"


def test_unknown_label_set_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown label set 'nope'"):
        label_set("nope")
