"""The OmniCoT trace: guided tokens, the record, rendering, parsing and the other reasoning styles.

A valid trace is one ``<think>...</think>`` followed by one ``<answer>...</answer>`` and nothing after
it but white space. Inside ``<think>`` the four guided tokens appear exactly once each, every section
is non-empty, and the answer holds no guided token. The section order is a setting (:data:`ORDERS`):
``fixed`` (the paper's: vision, audio, dialogue, analysis) or ``free``, where the three evidence
sections come in any order and ``[analysis]`` last; rendered ``free`` traces draw a per-sample order
from the sample id (:func:`section_order`), so that which modality to examine next is a real
decision at each guided token.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

GUIDED_TOKENS = ("[vision]", "[audio]", "[dialogue]", "[analysis]")
SECTIONS = ("vision", "audio", "dialogue", "analysis")
EVIDENCE = SECTIONS[:3]
STYLES = ("label", "freeform", "omnicot_nogt", "omnicot")
ORDERS = ("fixed", "free")
"""Section orders: ``fixed`` (vision, audio, dialogue, analysis) or ``free`` (evidence in any order, analysis last)."""
NO_SPEECH = "No speech is heard."

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


class OmniCoTFormatError(ValueError):
    """Raised when a text is not a valid OmniCoT trace; the message says what is wrong."""


@dataclass(frozen=True)
class OmniCoT:
    """One structured reasoning trace: per-modality evidence, the analysis and the answer."""

    vision: str
    audio: str
    dialogue: str
    analysis: str
    answer: str

    def to_dict(self) -> dict:
        """The record as a plain dict."""
        return asdict(self)


def check_order(order: str) -> str:
    """``order`` itself when it is one of :data:`ORDERS`, else a ValueError naming them."""
    if order not in ORDERS:
        raise ValueError(f"unknown section order {order!r}; choose one of {', '.join(ORDERS)}")
    return order


def section_order(order: str = "fixed", key: str = "") -> tuple[str, ...]:
    """The sections of a rendered trace: fixed, or the evidence shuffled by sha256 of ``key`` and analysis last.

    >>> section_order("fixed", "clip-1")
    ('vision', 'audio', 'dialogue', 'analysis')
    >>> section_order("free", "clip-1") == section_order("free", "clip-1")
    True
    >>> sorted({section_order("free", f"clip-{i}")[:3] for i in range(40)}) == sorted(
    ...     __import__("itertools").permutations(EVIDENCE))
    True
    """
    if check_order(order) == "fixed":
        return SECTIONS
    ranked = sorted(EVIDENCE, key=lambda sec: hashlib.sha256(f"{key}\0{sec}".encode()).hexdigest())
    return (*ranked, "analysis")


def render(record: OmniCoT, order: str = "fixed", key: str = "") -> str:
    """Render a record as an OmniCoT trace (sections as :func:`section_order` gives them).

    >>> print(render(OmniCoT("A smile.", "Bright voice.", "I won!", "All cues agree.", "happy")))
    <think>
    [vision] A smile.
    [audio] Bright voice.
    [dialogue] I won!
    [analysis] All cues agree.
    </think>
    <answer>happy</answer>
    """
    body = "\n".join(f"[{sec}] {_clean(getattr(record, sec))}" for sec in section_order(order, key))
    return f"<think>\n{body}\n</think>\n<answer>{_clean(record.answer)}</answer>"


def parse(text: str, order: str = "fixed") -> OmniCoT:
    """Parse an OmniCoT trace of the given section order, raising :class:`OmniCoTFormatError` that says what is wrong.

    >>> parse("<think>[vision] v [audio] a [dialogue] d [analysis] x</think><answer>sad</answer>").answer
    'sad'
    >>> parse("<think>[audio] a [vision] v [dialogue] d [analysis] x</think><answer>sad</answer>")
    Traceback (most recent call last):
    ...
    emoomni.omnicot.OmniCoTFormatError: guided tokens out of order: expected [vision] before [audio]
    >>> parse("<think>[audio] a [vision] v [dialogue] d [analysis] x</think><answer>sad</answer>", "free").audio
    'a'
    """
    think, answer = _split_think_answer(text)
    sections = _split_sections(think, check_order(order))
    if not answer:
        raise OmniCoTFormatError("the <answer> span is empty")
    inside = [tok for tok in GUIDED_TOKENS if tok in answer]
    if inside:
        raise OmniCoTFormatError(f"the <answer> span holds the guided token {inside[0]}")
    return OmniCoT(**sections, answer=answer)


def is_valid(text: str, order: str = "fixed") -> bool:
    """True iff ``text`` is a valid OmniCoT trace of the given section order (:data:`ORDERS`).

    >>> is_valid(render(OmniCoT("v", "a", "d", "x", "sad")) + "  \\n")
    True
    >>> is_valid(render(OmniCoT("v", "a", "d", "x", "sad")) + " trailing words")
    False
    >>> is_valid("<think>[vision] v [audio] a [dialogue] d [analysis] x</think><answer>[audio] sad</answer>")
    False
    """
    check_order(order)
    try:
        parse(text, order)
    except OmniCoTFormatError:
        return False
    return True


def render_style(record: OmniCoT, style: str, order: str = "fixed", key: str = "") -> str:
    """Render a record in one of the reasoning styles compared in the paper's Table 2.

    ``label``: the answer span only. ``freeform``: one paragraph of reasoning without guided tokens
    or per-modality structure, conclusion first, as free-form emotion explanations are written.
    ``omnicot_nogt``: the OmniCoT sections in order with the guided tokens removed. ``omnicot``:
    the full trace. ``order`` and ``key`` choose the sections' order as in :func:`render`.

    >>> r = OmniCoT("A smile.", "Bright voice.", "I won!", "All cues agree.", "happy")
    >>> render_style(r, "label")
    '<answer>happy</answer>'
    >>> render_style(r, "freeform")
    '<think>\\nAll cues agree. A smile. Bright voice. I won!\\n</think>\\n<answer>happy</answer>'
    >>> render_style(r, "omnicot_nogt").splitlines()[1:3]
    ['A smile.', 'Bright voice.']
    """
    answer = f"<answer>{_clean(record.answer)}</answer>"
    if style == "label":
        return answer
    if style == "freeform":
        parts = [record.analysis, record.vision, record.audio, record.dialogue]
        return "<think>\n" + " ".join(_clean(p) for p in parts) + "\n</think>\n" + answer
    if style == "omnicot_nogt":
        body = "\n".join(_clean(getattr(record, sec)) for sec in section_order(order, key))
        return f"<think>\n{body}\n</think>\n{answer}"
    if style == "omnicot":
        return render(record, order, key)
    raise ValueError(f"unknown reasoning style {style!r}; choose one of {', '.join(STYLES)}")


def strip_guided_tokens(text: str) -> str:
    """Remove the guided tokens from a text.

    >>> strip_guided_tokens("[vision] a smile [audio] loud")
    'a smile loud'
    """
    for tok in GUIDED_TOKENS:
        text = text.replace(tok + " ", "").replace(tok, "")
    return text.strip()


def _clean(text: str) -> str:
    """Collapse white space and refuse texts that would break the trace structure."""
    text = " ".join(str(text).split())
    for marker in _TAGS + GUIDED_TOKENS:
        if marker in text:
            raise OmniCoTFormatError(f"section text may not contain {marker!r}: {text[:60]!r}")
    return text


def _split_think_answer(text: str) -> tuple[str, str]:
    """Check the tag structure and return the think body and the stripped answer."""
    for tag in _TAGS:
        n = text.count(tag)
        if n != 1:
            raise OmniCoTFormatError(f"expected exactly one {tag}, found {n}")
    m = re.fullmatch(r"\s*<think>(.*)</think>(\s*)<answer>(.*)</answer>\s*", text, flags=re.S)
    if m is None:
        lead = text[: text.index("<think>")].strip()
        if lead:
            raise OmniCoTFormatError(f"text before <think>: {lead[:40]!r}")
        if text.index("</answer>") < text.index("<think>") or text.index("<answer>") < text.index("</think>"):
            raise OmniCoTFormatError("tags out of order: <think>...</think> must come before <answer>...</answer>")
        between = text[text.index("</think>") + len("</think>") : text.index("<answer>")].strip()
        if between:
            raise OmniCoTFormatError(f"text between </think> and <answer>: {between[:40]!r}")
        tail = text[text.index("</answer>") + len("</answer>") :].strip()
        raise OmniCoTFormatError(f"text after </answer>: {tail[:40]!r}")
    return m.group(1), m.group(3).strip()


def _split_sections(think: str, order: str = "fixed") -> dict[str, str]:
    """Split a think body on the guided tokens, checking count, order and non-empty sections."""
    positions = {}
    for tok in GUIDED_TOKENS:
        n = think.count(tok)
        if n != 1:
            raise OmniCoTFormatError(f"expected {tok} exactly once inside <think>, found {n}")
        positions[tok] = think.index(tok)
    if order == "fixed":
        for a, b in zip(GUIDED_TOKENS, GUIDED_TOKENS[1:]):
            if positions[a] > positions[b]:
                raise OmniCoTFormatError(f"guided tokens out of order: expected {a} before {b}")
    else:
        late = [tok for tok in GUIDED_TOKENS[:3] if positions[tok] > positions["[analysis]"]]
        if late:
            raise OmniCoTFormatError(f"guided tokens out of order: expected {late[0]} before [analysis]")
    ranked = sorted(positions, key=positions.get)
    lead = think[: positions[ranked[0]]].strip()
    if lead:
        raise OmniCoTFormatError(f"text before {ranked[0]} inside <think>: {lead[:40]!r}")
    bounds = [positions[tok] for tok in ranked] + [len(think)]
    out = {}
    for i, tok in enumerate(ranked):
        body = think[bounds[i] + len(tok) : bounds[i + 1]].strip()
        if not body:
            raise OmniCoTFormatError(f"the {tok} section is empty")
        out[tok.strip("[]")] = " ".join(body.split())
    return out
