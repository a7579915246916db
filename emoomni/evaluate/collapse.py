"""The collapse signature: how a model does where SynthEmo's training shortcut is neutralised or dissents.

SynthEmo makes one modality (the *shortcut*) right on almost every training clip and over-represents
the clips where it is not in ``test``. A model that collapsed onto the shortcut is right on ``agree``
clips and wrong where the shortcut is neutral (it sees no emotion, or answers from the wrong cue) or
dissents (it follows the shortcut's cue instead of the two-cue majority). :func:`subsets` sorts the
clips, :func:`signature` measures accuracy per subset and how often a dissenting shortcut is followed,
and :func:`collapsed` decides, from that and the accuracy lost when each modality is removed, whether
the signature is there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from emoomni.data.manifest import Sample
from emoomni.data.synthemo.design import MODALITIES, NEUTRALISER
from emoomni.evaluate.predict import Prediction

SUBSETS = ("agree", "neutralised", "dissent", "collapse", "other")
"""``collapse`` is ``neutralised`` and ``dissent`` together; ``other``: another modality is off."""


def subset_of(sample: Sample, shortcut: str) -> str:
    """Which subset a SynthEmo clip belongs to, for a given shortcut modality.

    >>> s = lambda cond, cues: Sample("x", "synthemo", "test", label="sad", meta={"condition": cond, "cues": cues})
    >>> subset_of(s("poker_face", {"vision": "neutral", "audio": "sad", "text": "sad"}), "vision")
    'neutralised'
    >>> subset_of(s("conflict", {"vision": "happy", "audio": "sad", "text": "sad"}), "vision")
    'dissent'
    >>> subset_of(s("conflict", {"vision": "sad", "audio": "happy", "text": "sad"}), "vision")
    'other'
    """
    condition = sample.meta["condition"]
    if condition == "agree":
        return "agree"
    if condition == NEUTRALISER[shortcut]:
        return "neutralised"
    if condition == "conflict" and sample.meta["cues"][shortcut] != sample.label:
        return "dissent"
    return "other"


def subsets(samples: Sequence[Sample], shortcut: str) -> dict[str, list[str]]:
    """Sample ids per subset of :data:`SUBSETS` (``collapse`` = ``neutralised`` + ``dissent``)."""
    out: dict[str, list[str]] = {name: [] for name in SUBSETS}
    for s in samples:
        name = subset_of(s, shortcut)
        out[name].append(s.id)
        if name in ("neutralised", "dissent"):
            out["collapse"].append(s.id)
    return out


def hits(preds: Sequence[Prediction], ids: Sequence[str]) -> list[int]:
    """1 where the prediction of each id (in order) is right, else 0; a missing prediction is an error."""
    by_id = {p.sample_id: p for p in preds}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise KeyError(f"{len(missing)} sample(s) have no prediction, e.g. {missing[:3]}")
    return [int(by_id[i].correct) for i in ids]


def signature(preds: Sequence[Prediction], samples: Sequence[Sample], shortcut: str) -> dict[str, float]:
    """Accuracy (percent) per subset, the agree-minus-collapse gap, and how often a dissenting shortcut is followed.

    >>> S = lambda i, cond, v: Sample(f"s{i}", "synthemo", "test", label="sad",
    ...                               meta={"condition": cond, "cues": {"vision": v, "audio": "sad", "text": "sad"}})
    >>> samples = [S(0, "agree", "sad"), S(1, "agree", "sad"), S(2, "poker_face", "neutral"), S(3, "conflict", "happy")]
    >>> P = lambda i, a: Prediction(f"s{i}", "", a, "sad", True)
    >>> sig = signature([P(0, "sad"), P(1, "sad"), P(2, "neutral"), P(3, "happy")], samples, "vision")
    >>> sig["agree"], sig["collapse"], sig["gap"], sig["follows_shortcut"], sig["n_collapse"]
    (100.0, 0.0, 100.0, 100.0, 2)
    """
    by_subset = subsets(samples, shortcut)
    by_id = {p.sample_id: p for p in preds}
    out: dict[str, float] = {}
    for name in SUBSETS:
        h = hits(preds, by_subset[name])
        out[name] = 100 * sum(h) / len(h) if h else float("nan")
        out[f"n_{name}"] = len(h)
    out["gap"] = out["agree"] - out["collapse"]
    cue = {s.id: s.meta["cues"][shortcut] for s in samples}
    dissent = by_subset["dissent"]
    followed = [by_id[i].answer == cue[i] for i in dissent]
    out["follows_shortcut"] = 100 * sum(followed) / len(followed) if followed else float("nan")
    return out


def collapsed(sig: Mapping[str, float], drops: Mapping[str, float], shortcut: str, min_gap: float = 20.0) -> bool:
    """The collapse signature: collapse-subset accuracy at least ``min_gap`` points under ``agree``, and
    removing the shortcut costs more accuracy than removing either other modality (``drops``: points lost).

    >>> collapsed({"gap": 35.0}, {"vision": 30.0, "audio": 5.0, "text": 8.0}, "vision")
    True
    >>> collapsed({"gap": 35.0}, {"vision": 3.0, "audio": 5.0, "text": 40.0}, "vision")
    False
    """
    others = [drops[m] for m in MODALITIES if m != shortcut]
    return sig["gap"] >= min_gap and drops[shortcut] > max(others)


def outcome(preds: Sequence[Prediction], samples: Sequence[Sample], shortcut: str,
            ablated: Mapping[str, Sequence[Prediction]] | None = None) -> dict[str, list[float]]:
    """One trained model's per-clip results, the unit of the seed study (:mod:`emoomni.intervals` resamples them).

    ``accuracy``: 1/0 per clip of ``samples``; ``collapse``: the same on the collapse subset; per ablated
    modality ``drop <modality>``: per ablated clip, right with everything minus right without it (1, 0 or -1),
    so its mean is the accuracy lost when that modality is removed.

    >>> S = lambda i, cond, v: Sample(f"s{i}", "synthemo", "test", label="sad",
    ...                               meta={"condition": cond, "cues": {"vision": v, "audio": "sad", "text": "sad"}})
    >>> samples = [S(0, "agree", "sad"), S(1, "poker_face", "neutral"), S(2, "conflict", "happy")]
    >>> P = lambda i, a: Prediction(f"s{i}", "", a, "sad", True)
    >>> out = outcome([P(0, "sad"), P(1, "sad"), P(2, "happy")], samples, "vision", {"vision": [P(0, "happy")]})
    >>> out["accuracy"], out["collapse"], out["drop vision"]
    ([1, 1, 0], [1, 0], [1])
    """
    by_subset = subsets(samples, shortcut)
    out: dict[str, list[float]] = {"accuracy": hits(preds, [s.id for s in samples]),
                                   "collapse": hits(preds, by_subset["collapse"])}
    for modality, removed in (ablated or {}).items():
        ids = [p.sample_id for p in removed]
        out[f"drop {modality}"] = [a - b for a, b in zip(hits(preds, ids), hits(removed, ids))]
    return out
