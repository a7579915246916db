"""Spoken sentences whose wording carries a lexical emotion, or none.

Sentences are short (three to six words, so that even slow speech fits a two-second clip) and
never contain a label word or a synonym of one: the emotion is in what is said, not named.
"""

from __future__ import annotations

import re

import numpy as np

FILLERS = {
    "thing": ["song", "gift", "plan", "cake", "job", "trip", "house", "letter", "game", "car"],
    "person": ["my sister", "our coach", "my friend", "the neighbour", "my brother", "your boss"],
    "time": ["today", "tonight", "this week", "this morning", "right now"],
}

TEMPLATES: dict[str, list[str]] = {
    "happy": [
        "I love this {thing}", "What a lovely {thing}", "We finally won", "This is the best day",
        "{person} loved the {thing}", "That was wonderful", "I feel great {time}", "Thank you so much",
        "What a brilliant {thing}", "I can hardly stop smiling",
    ],
    "sad": [
        "I miss {person} so much", "Nothing ever works out", "I lost the {thing}", "Nobody came {time}",
        "{person} is gone", "I feel so alone", "It is all over now", "We never got the {thing}",
        "I broke the {thing}", "Everything fell apart {time}",
    ],
    "angry": [
        "Stop lying to me", "This is unacceptable", "Get out of here", "You ruined the {thing}",
        "How dare you", "I hate this {thing}", "{person} wrecked my {thing}", "Do not touch that",
        "Enough of this nonsense", "You never listen to me",
    ],
    "worried": [
        "What if it goes wrong", "I hope {person} is safe", "Something is not right", "We might lose the {thing}",
        "Is anyone out there", "I heard a noise {time}", "Please do not leave me", "The {thing} could break",
        "What if they find us", "I cannot find {person}",
    ],
    "surprised": [
        "I did not expect that", "You bought a {thing}", "Wait, really", "No way, {person} came",
        "Where did this {thing} come from", "You are here already", "That was so sudden",
        "Who sent the {thing}", "I never saw that coming", "It opened by itself",
    ],
    "neutral": [
        "The {thing} is on the table", "I will call {time}", "Please close the door", "The bus leaves at noon",
        "{person} has the {thing}", "We need more paper", "It is Tuesday {time}", "The shop opens at nine",
        "Put the {thing} in the box", "The meeting is upstairs",
    ],
}


def sentence(emotion: str, rng: np.random.Generator) -> str:
    """Draw a sentence whose wording carries ``emotion`` (``neutral`` for emotionally flat words)."""
    template = TEMPLATES[emotion][int(rng.integers(len(TEMPLATES[emotion])))]
    out = template
    for key, options in FILLERS.items():
        while "{" + key + "}" in out:
            out = out.replace("{" + key + "}", options[int(rng.integers(len(options)))], 1)
    return out[0].upper() + out[1:] + "."


def _pattern(template: str) -> re.Pattern:
    """A template as a whole-sentence pattern; each filler slot matches any words."""
    parts = re.split(r"\{\w+\}", template)
    return re.compile(r"\s*" + r".+?".join(re.escape(x) for x in parts) + r"[.!?]?\s*", re.IGNORECASE)


PATTERNS = {e: [_pattern(t) for t in ts] for e, ts in TEMPLATES.items()}


def template_emotion(text: str) -> str | None:
    """The emotion of the one template ``text`` is a sentence of (any fillers), or None (none, or several).

    >>> template_emotion("We might lose the game.")
    'worried'
    >>> template_emotion("My friend loved the cake")
    'happy'
    >>> template_emotion("The weather is fine.") is None
    True
    """
    found = {e for e, patterns in PATTERNS.items() if any(p.fullmatch(text) for p in patterns)}
    return found.pop() if len(found) == 1 else None
