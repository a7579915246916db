import pytest

from emoomni.omnicot import (
    GUIDED_TOKENS,
    STYLES,
    OmniCoT,
    OmniCoTFormatError,
    is_valid,
    parse,
    render,
    render_style,
    strip_guided_tokens,
)

REC = OmniCoT("Brows lowered, lips pressed.", "Loud, fast, high pitch.", "No speech is heard.", "Face and voice agree.", "angry")


def test_guided_tokens_are_the_papers_four_in_order():
    assert GUIDED_TOKENS == ("[vision]", "[audio]", "[dialogue]", "[analysis]")


def test_render_parse_round_trip():
    text = render(REC)
    assert parse(text) == REC
    assert is_valid(text)
    assert [text.index(t) for t in GUIDED_TOKENS] == sorted(text.index(t) for t in GUIDED_TOKENS)


def _swap(text, a, b):
    return text.replace(a, "\0").replace(b, a).replace("\0", b)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace("[audio]", ""), r"\[audio\] exactly once inside <think>, found 0"),
        (lambda t: t.replace("[audio] Loud", "[audio] [audio] Loud"), r"\[audio\] exactly once.*found 2"),
        (lambda t: _swap(t, "[vision]", "[dialogue]"), "out of order"),
        (lambda t: t.replace("No speech is heard.", " "), r"the \[dialogue\] section is empty"),
        (lambda t: t + " and more", "text after </answer>"),
        (lambda t: "Sure! " + t, "text before <think>"),
        (lambda t: t.replace("</think>\n", "</think> so: "), "between </think> and <answer>"),
        (lambda t: t.replace("<answer>angry</answer>", "<answer> </answer>"), "answer> span is empty"),
        (lambda t: t + "<answer>sad</answer>", r"exactly one <answer>, found 2"),
        (lambda t: t.replace("</think>", ""), r"exactly one </think>, found 0"),
        (lambda t: t.replace("<think>\n", "<think>\nPreamble "), r"text before \[vision\]"),
    ],
)
def test_parse_says_what_is_wrong(mutate, message):
    bad = mutate(render(REC))
    with pytest.raises(OmniCoTFormatError, match=message):
        parse(bad)
    assert not is_valid(bad)


def test_trailing_whitespace_and_compact_form_are_valid():
    assert is_valid(render(REC) + "\n\n  ")
    assert is_valid("<think>[vision]a[audio]b[dialogue]c[analysis]d</think><answer>x</answer>")


def test_answer_before_think_is_invalid():
    with pytest.raises(OmniCoTFormatError, match="text before <think>"):
        parse("<answer>x</answer><think>[vision]a[audio]b[dialogue]c[analysis]d</think>")


def test_section_text_with_markers_is_refused():
    with pytest.raises(OmniCoTFormatError, match="may not contain"):
        render(OmniCoT("a [audio] b", "a", "d", "x", "sad"))
    with pytest.raises(OmniCoTFormatError):
        render(OmniCoT("v", "a", "d", "x", "</answer>sad"))


def test_styles_differ_and_keep_the_answer():
    texts = {s: render_style(REC, s) for s in STYLES}
    assert len(set(texts.values())) == len(STYLES)
    for s, t in texts.items():
        assert t.rstrip().endswith("<answer>angry</answer>"), s
        assert not any(tok in t for tok in GUIDED_TOKENS) or s == "omnicot"
    assert texts["label"] == "<answer>angry</answer>"
    assert texts["omnicot_nogt"] == strip_guided_tokens(texts["omnicot"]).replace("\n ", "\n")
    for s in ("freeform", "omnicot_nogt"):
        for section in (REC.vision, REC.audio, REC.dialogue, REC.analysis):
            assert section in texts[s]
    assert is_valid(texts["omnicot"]) and not is_valid(texts["omnicot_nogt"])
    with pytest.raises(ValueError, match="unknown reasoning style"):
        render_style(REC, "chain")
