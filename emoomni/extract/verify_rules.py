"""The offline verifier: a transparent rule-based judge that composes the ``[analysis]`` step.

Each modality casts a vote: the vision and audio evidence name the emotion they suggest in their
``Reason:`` line (read with the paper's Phi, :func:`emoomni.labels.extract_answer`); the dialogue
is scored against a small emotion lexicon. The evidence supports the gold label when at least
``min_votes`` modalities vote for it (two by default, the same majority that defines SynthEmo's
gold labels). The analysis says which cues agree, which disagree, and how the label follows.
The lexicon was written with everyday speech in mind, SynthEmo's sentences included; on real
transcripts it is a weak judge and an LLM verifier should be preferred.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from emoomni.extract.base import Evidence
from emoomni.extract.verify import Verdict, Verifier, register_verifier
from emoomni.labels import LabelSet, extract_answer

LEXICON: dict[str, tuple[str, ...]] = {
    "happy": ("love", "loved", "lovely", "great", "wonderful", "brilliant", "best", "won", "win", "thank", "glad",
              "smiling", "fun", "amazing", "fantastic", "delighted", "perfect"),
    "sad": ("miss", "lost", "alone", "gone", "broke", "cry", "crying", "sorry", "over", "apart", "nobody",
            "never got", "lonely", "hurts", "died", "tears"),
    "angry": ("hate", "stop", "dare", "ruined", "wrecked", "lying", "unacceptable", "enough", "nonsense",
              "get out", "never listen", "shut up", "idiot", "sick of", "furious"),
    "worried": ("what if", "hope", "safe", "scared", "afraid", "noise", "leave me", "might", "could break",
                "cannot find", "wrong", "anyone", "find us", "careful", "danger"),
    "surprised": ("really", "wait", "no way", "expect", "sudden", "already", "who sent", "never saw", "wow",
                  "suddenly", "by itself", "where did", "came from", "unbelievable"),
}


def lexical_emotion(text: str) -> str:
    """The emotion a transcript's words suggest (``neutral`` when no lexicon entry matches).

    >>> lexical_emotion('The speaker says: "I love this song."')
    'happy'
    >>> lexical_emotion("Put the box in the car.")
    'neutral'
    """
    words = " " + " ".join(re.findall(r"[a-z]+", text.lower())) + " "
    scores = {e: sum(words.count(f" {w} ") for w in ws) for e, ws in LEXICON.items()}
    best = max(scores, key=scores.get)
    return best if scores[best] > 0 else "neutral"


def reason_vote(text: str | None, labels) -> str | None:
    if not text:
        return None
    reason = re.split(r"reason\s*:", text, flags=re.I)
    return extract_answer(reason[-1], labels) if len(reason) > 1 else extract_answer(text, labels)


@register_verifier
class RuleVerifier(Verifier):
    """Majority-of-modalities judge with a composed analysis."""

    name = "rules"

    def judge(self, items: Sequence[tuple[Evidence, str]], labels: Sequence[str]) -> list[Verdict]:
        """One verdict per (evidence, gold label)."""
        ls = candidate_labels(labels)
        return [self._one(ev, gold, ls) for ev, gold in items]

    def _one(self, ev: Evidence, gold: str, labels) -> Verdict:
        min_votes = int(self.options.get("min_votes", 2))
        missing = [m for m in ("vision", "audio", "dialogue") if not getattr(ev, m)]
        if missing:
            return Verdict(ev.sample_id, False, f"missing evidence: {', '.join(missing)}", backend=self.name)
        lexical = lexical_emotion(ev.dialogue)
        votes = {"vision": reason_vote(ev.vision, labels), "audio": reason_vote(ev.audio, labels),
                 "dialogue": labels.canonical(lexical)}
        agree = [m for m, v in votes.items() if v == gold]
        if len(agree) < min_votes:
            seen = ", ".join(f"{m} suggests {v or 'nothing clear'}" for m, v in votes.items())
            return Verdict(ev.sample_id, False, f"only {len(agree)} of 3 modalities support {gold} ({seen})",
                           backend=self.name)
        return Verdict(ev.sample_id, True, f"{len(agree)} of 3 modalities support {gold}",
                       analysis=compose_analysis(votes, gold), backend=self.name)


def candidate_labels(labels: Sequence[str]) -> LabelSet:
    """A label set over the candidate labels, with fear words and worry standing in for each other."""
    aliases = {"fearful": "worried"} if "worried" in labels else {"worried": "fearful"} if "fearful" in labels else {}
    return LabelSet("candidates", tuple(labels), aliases)


NOUNS = {"vision": "facial expression", "audio": "tone of voice", "dialogue": "wording"}


def compose_analysis(votes: dict[str, str | None], gold: str) -> str:
    """The ``[analysis]`` text: which cues agree on the label, which do not, and the conclusion.

    >>> compose_analysis({"vision": "neutral", "audio": "angry", "dialogue": "angry"}, "angry")
    'The tone of voice and the wording both point to angry. The facial expression alone suggests neutral, but it is outweighed by the other cues. Weighing all three modalities, the person is angry.'
    """
    agree = [m for m, v in votes.items() if v == gold]
    differ = [m for m, v in votes.items() if v != gold]
    names = [f"the {NOUNS[m]}" for m in agree]
    lead = (" and ".join(names) if len(names) < 3 else f"{names[0]}, {names[1]} and {names[2]}")
    text = f"{lead[0].upper()}{lead[1:]} {'both ' if len(names) == 2 else 'all '}point to {gold}."
    for m in differ:
        v = votes[m] or "nothing clear"
        text += f" The {NOUNS[m]} alone suggests {v}, but it is outweighed by the other cues."
    return text + f" Weighing all three modalities, the person is {gold}."
