"""SynthEmo's design: classes, conditions, the gold rule, and the condition mixture per split.

Every clip carries three cues, one per modality (vision: the face; audio: the voice's prosody;
text: the words), each an emotion or ``neutral``. Its *condition* decides how the cues relate:

- ``agree``: all three carry the gold emotion;
- ``poker_face``: the face stays neutral while voice and words carry the emotion (the paper's Figure 1);
- ``flat_voice``: the voice is flat while face and words carry the emotion;
- ``neutral_words``: the words are neutral while face and voice carry the emotion;
- ``conflict``: two modalities carry the gold emotion and the third (the *dissenter*) another one;
- ``independent`` (pre-training clips only): each cue drawn on its own, uniformly from the six; the
  gold label is the majority when there is one, else none.

**Gold rule.** The gold label is the emotion that at least two of the three cues carry. Every
condition guarantees such a majority; the three neutralising conditions need a non-neutral gold.

**Default mixtures.** One modality (``shortcut``) is right on almost every training clip: the condition
that neutralises it is rare in ``train`` and conflicts there are voiced by the other two modalities. The
default shortcut is the face, onto which the paper finds Qwen2.5-Omni collapsing. A model can only
collapse onto a modality it perceives: while the tiny base read the face worst, a face-shortcut
label-only model leaned on the voice, so the words were the shortcut; once the base read the face too,
the words' lead in ``train`` (right on 95 % of clips, the face and the voice on 75 %) made label-only SFT
collapse on one seed of three, and the face's on two of three (the third tied face and voice). The
``test`` split over-represents exactly what a collapsed model gets wrong: the shortcut neutralised,
or the shortcut itself dissenting. The ``pretrain`` clips, which only the tiny base's description
pre-training sees, are ``independent``: no cue predicts another there, so the base cannot learn to
read one modality off another and has to perceive each one (with the conditions above, the face
agreed with the words on about half of them, and the base named the words' emotion for the face).
"""

from __future__ import annotations

CLASSES = ("neutral", "happy", "sad", "angry", "worried", "surprised")
MODALITIES = ("vision", "audio", "text")
CONDITIONS = ("agree", "poker_face", "flat_voice", "neutral_words", "conflict")
INDEPENDENT = "independent"
"""The pre-training clips' condition: every cue drawn on its own (not one of :data:`CONDITIONS`)."""
CUE_NAMES = {"vision": "face", "audio": "voice", "text": "words"}
"""What carries each modality's cue, as the book names it."""
NEUTRALISES = {"poker_face": "vision", "flat_voice": "audio", "neutral_words": "text"}
NEUTRALISER = {m: c for c, m in NEUTRALISES.items()}


def majority(cues: dict[str, str]) -> str | None:
    """The emotion at least two of the three cues carry, or None.

    >>> majority({"vision": "sad", "audio": "happy", "text": "angry"}) is None
    True
    """
    values = [cues[m] for m in MODALITIES]
    return next((v for v in values if values.count(v) >= 2), None)


def independent_cues(rng) -> dict[str, str]:
    """One cue per modality, each drawn on its own from the six classes.

    >>> import numpy as np
    >>> sorted(independent_cues(np.random.default_rng(0)))
    ['audio', 'text', 'vision']
    """
    return {m: CLASSES[int(rng.integers(len(CLASSES)))] for m in MODALITIES}


def gold_label(cues: dict[str, str]) -> str:
    """The emotion at least two of the three cues carry.

    >>> gold_label({"vision": "neutral", "audio": "angry", "text": "angry"})
    'angry'
    >>> gold_label({"vision": "sad", "audio": "happy", "text": "angry"})
    Traceback (most recent call last):
    ...
    ValueError: no majority among cues {'vision': 'sad', 'audio': 'happy', 'text': 'angry'}
    """
    gold = majority(cues)
    if gold is None:
        raise ValueError(f"no majority among cues {cues}")
    return gold


def cues_for(condition: str, gold: str, dissenter: str | None = None, other: str | None = None) -> dict[str, str]:
    """The per-modality cues of a clip with a given condition and gold label.

    >>> cues_for("poker_face", "angry")
    {'vision': 'neutral', 'audio': 'angry', 'text': 'angry'}
    >>> cues_for("conflict", "sad", dissenter="vision", other="happy")
    {'vision': 'happy', 'audio': 'sad', 'text': 'sad'}
    """
    cues = {m: gold for m in MODALITIES}
    if condition in NEUTRALISES:
        if gold == "neutral":
            raise ValueError(f"condition {condition} needs a non-neutral gold label")
        cues[NEUTRALISES[condition]] = "neutral"
    elif condition == "conflict":
        if dissenter not in MODALITIES or other in (None, gold):
            raise ValueError("a conflict needs a dissenting modality and an emotion other than the gold one")
        cues[dissenter] = other
    elif condition != "agree":
        raise ValueError(f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)}")
    return cues


def default_mixtures(shortcut: str = "vision") -> dict[str, dict[str, float]]:
    """Condition mixture per split, under which ``shortcut`` is the easy modality in training.

    >>> default_mixtures()["test"]["poker_face"], default_mixtures("text")["test"]["neutral_words"]
    (0.3, 0.3)
    """
    hide = NEUTRALISER[shortcut]
    others = [c for c in ("poker_face", "flat_voice", "neutral_words") if c != hide]
    train = {"agree": 0.45, hide: 0.05, others[0]: 0.2, others[1]: 0.2, "conflict": 0.1}
    test = {"agree": 0.2, hide: 0.3, others[0]: 0.1, others[1]: 0.1, "conflict": 0.3}
    return {"pretrain": {INDEPENDENT: 1.0}, "train": train, "val": dict(train), "test": test}


def default_dissenters(shortcut: str = "vision") -> dict[str, dict[str, float]]:
    """Which modality dissents in a conflict, per split: never the shortcut in training, only it in test."""
    rest = [m for m in MODALITIES if m != shortcut]
    train = {m: 1 / len(rest) for m in rest}
    return {
        "pretrain": {m: 1 / 3 for m in MODALITIES},
        "train": train,
        "val": dict(train),
        "test": {shortcut: 1.0},
    }
