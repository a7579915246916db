"""Label sets per data set, surface forms and synonyms, and answer extraction (the paper's Phi).

Canonical labels are lower-case adjectives (``happy``, ``angry``, ``fearful``, ``surprised`` ...).
Each label set lists its classes and the extra aliases it alone accepts (IEMOCAP's 4-class protocol
reads ``excited`` as ``happy``; MER reads fear words as ``worried``, its only fear-like class).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# surface form -> canonical label, shared by every label set
SYNONYMS: dict[str, str] = {
    "neutral": "neutral", "neutrality": "neutral", "neu": "neutral",
    "calm": "calm", "calmness": "calm",
    "happy": "happy", "happiness": "happy", "joy": "happy", "joyful": "happy", "hap": "happy",
    "sad": "sad", "sadness": "sad", "sorrow": "sad", "unhappy": "sad",
    "angry": "angry", "anger": "angry", "ang": "angry", "mad": "angry",
    "fearful": "fearful", "fear": "fearful", "afraid": "fearful", "scared": "fearful", "fea": "fearful",
    "disgusted": "disgusted", "disgust": "disgusted",
    "surprised": "surprised", "surprise": "surprised", "sur": "surprised",
    "worried": "worried", "worry": "worried", "anxious": "worried", "anxiety": "worried", "nervous": "worried",
    "excited": "excited", "excitement": "excited", "exc": "excited",
    "frustrated": "frustrated", "frustration": "frustrated", "fru": "frustrated",
    "contempt": "contempt", "contemptuous": "contempt",
}


@dataclass(frozen=True)
class LabelSet:
    """A data set's classes, in a fixed order, and the aliases only it accepts."""

    name: str
    labels: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)

    def canonical(self, word: str) -> str | None:
        """Map one surface form to a label of this set, or None.

        >>> LABEL_SETS["iemocap4"].canonical("Excited")
        'happy'
        >>> LABEL_SETS["iemocap6"].canonical("excited")
        'excited'
        >>> LABEL_SETS["meld"].canonical("calm") is None
        True
        """
        w = word.lower()
        label = self.aliases.get(w) or SYNONYMS.get(w)
        label = self.aliases.get(label, label) if label else None
        return label if label in self.labels else None


def _set(name: str, labels: str, **aliases: str) -> LabelSet:
    return LabelSet(name, tuple(labels.split()), dict(aliases))


LABEL_SETS: dict[str, LabelSet] = {
    s.name: s
    for s in (
        _set("ravdess", "neutral calm happy sad angry fearful disgusted surprised"),
        _set("iemocap4", "neutral happy sad angry", excited="happy"),
        _set("iemocap6", "neutral happy sad angry excited frustrated"),
        _set("iemocap_paper", "neutral happy sad angry fearful surprised"),
        _set("meld", "neutral happy sad angry fearful disgusted surprised"),
        _set("mer2023", "neutral angry happy sad worried surprised", fearful="worried"),
        _set("mer2024", "neutral angry happy sad worried surprised", fearful="worried"),
        _set("mer2025", "neutral angry happy sad worried surprised", fearful="worried"),
        _set("dfew", "happy sad neutral angry surprised disgusted fearful"),
        _set("synthemo", "neutral happy sad angry worried surprised", fearful="worried"),
    )
}


def label_set(dataset: str | LabelSet) -> LabelSet:
    """Look up a label set by name (or pass one through), with a clear error for unknown names."""
    if isinstance(dataset, LabelSet):
        return dataset
    try:
        return LABEL_SETS[dataset]
    except KeyError:
        raise KeyError(f"unknown label set {dataset!r}; known: {', '.join(sorted(LABEL_SETS))}") from None


_ANSWER = re.compile(r"<answer>(.*?)</answer>", flags=re.S | re.I)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_CLAUSE = re.compile(r"[.,;:!?()\n]+")
NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "without", "non", "hardly", "barely", "isn't",
                       "wasn't", "aren't", "doesn't", "don't", "didn't", "isnt", "wasnt", "doesnt", "dont"})
"""Words that negate a label named after them in the same clause (``not happy``, ``no sign of anger``)."""
STRUCTURE_MARKS = ("<think>", "[vision]", "[audio]", "[dialogue]", "[analysis]")
"""Marks of a structured trace: without an ``<answer>`` tag such a text names no answer (the evidence is no answer)."""


def _labels_named(scope: str, ls: LabelSet) -> tuple[set[str], bool]:
    """The labels a text names and whether any of them is negated earlier in its clause."""
    found, negated = set(), False
    for clause in _CLAUSE.split(scope.lower()):
        seen_negation = False
        for w in _WORD.findall(clause):
            if w in NEGATIONS:
                seen_negation = True
                continue
            label = ls.canonical(w.split("'")[0])
            if label is not None:
                found.add(label)
                negated = negated or seen_negation
    return found, negated


def extract_answer(text: str | None, dataset: str | LabelSet, whole_text: bool | None = None) -> str | None:
    """The paper's Phi: the canonical label a model output names, or None.

    Reads the ``<answer>`` spans (an unclosed last ``<answer>`` counts, up to the end). Without any,
    ``whole_text`` decides: False gives None (R_acc, OmniCoT traces); True reads the whole text; None
    (the default) reads it only when the text carries no ``<think>`` tag and no guided token, so a
    truncated trace is never scored from its evidence sentences while a free-form reply still is
    (that fallback's misses show in the unknown rate). Case, markdown emphasis and punctuation are
    ignored and synonyms map to the canonical label. Returns None when no label, two different
    labels, or a negated label (``not happy``) are named; it never falls back to a default class.

    >>> extract_answer("<think>...</think><answer>**Joy**.</answer>", "meld")
    'happy'
    >>> extract_answer("The speaker sounds ANGRY!", "ravdess")
    'angry'
    >>> extract_answer("<answer>sad or angry</answer>", "ravdess") is None
    True
    >>> extract_answer("<answer>I cannot tell</answer>", "ravdess") is None
    True
    >>> extract_answer("<think>she looks sad</think><answer>happy</answer>", "meld")
    'happy'
    >>> extract_answer("<answer>not happy</answer>", "meld") is None
    True
    >>> extract_answer("<think>[vision] the face suggests sad [audio] the voice suggests sad", "meld") is None
    True
    >>> extract_answer("The speaker sounds sad.", "meld", whole_text=False) is None
    True
    """
    if not text:
        return None
    spans = _ANSWER.findall(text)
    if not spans and re.search(r"<answer>", text, flags=re.I):
        spans = [text[re.search(r"<answer>", text, flags=re.I).end() :]]
    if not spans:
        if whole_text is None:
            whole_text = not any(mark in text for mark in STRUCTURE_MARKS)
        if not whole_text:
            return None
    scope = " ".join(spans) if spans else text
    found, negated = _labels_named(scope, label_set(dataset))
    return found.pop() if len(found) == 1 and not negated else None
