"""The verifier: does the evidence support the gold label? If so, the ``[analysis]`` step.

A verifier takes (evidence, gold label) pairs and returns a :class:`Verdict` per pair. The LLM
backends reply in free text; :func:`parse_verdict` reads it and raises :class:`VerdictParseError`
on anything that is not a clear yes / no (random models reply gibberish), which the pipeline
records as an unparseable verdict: the sample is dropped and counted, never guessed.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from emoomni.extract.base import Evidence


class VerdictParseError(ValueError):
    """A verifier reply that is not a clear yes or no."""


@dataclass(frozen=True)
class Verdict:
    """The verifier's judgement of one sample."""

    sample_id: str
    supported: bool | None  # None: the reply could not be parsed
    reason: str
    analysis: str | None = None
    raw: str | None = None
    backend: str = ""

    def to_json(self) -> str:
        """One JSONL line."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        """Build from a decoded JSONL line."""
        return cls(**d)


def parse_verdict(text: str) -> tuple[bool, str | None]:
    """Read a verifier reply: a leading yes / no, then for yes an analysis.

    >>> parse_verdict("Yes.\\nAnalysis: The frown and the loud voice agree.")
    (True, 'The frown and the loud voice agree.')
    >>> parse_verdict("**No** - the face is calm.")
    (False, None)
    >>> parse_verdict("yes")
    Traceback (most recent call last):
    ...
    emoomni.extract.verify.VerdictParseError: a 'yes' without an analysis
    >>> parse_verdict("ist Kuh blau 3")
    Traceback (most recent call last):
    ...
    emoomni.extract.verify.VerdictParseError: reply does not start with yes or no: 'ist Kuh blau 3'
    """
    cleaned = re.sub(r"<think>.*?</think>", "", text or "", flags=re.S).strip()
    m = re.match(r"^[\W_]*(yes|no)\b[\W_]*", cleaned, flags=re.I)
    if m is None:
        raise VerdictParseError(f"reply does not start with yes or no: {cleaned[:60]!r}")
    if m.group(1).lower() == "no":
        return False, None
    rest = cleaned[m.end():]
    rest = re.sub(r"^\s*(analysis|explanation|reason)\s*:\s*", "", rest, flags=re.I).strip()
    analysis = " ".join(rest.split())
    if len(analysis.split()) < 3:
        raise VerdictParseError("a 'yes' without an analysis")
    for marker in ("[vision]", "[audio]", "[dialogue]", "[analysis]", "<think>", "</think>", "<answer>", "</answer>"):
        analysis = analysis.replace(marker, " ")
    return True, " ".join(analysis.split())


class Verifier(ABC):
    """Judge whether evidence supports a label and write the analysis step."""

    name: ClassVar[str]

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abstractmethod
    def judge(self, items: Sequence[tuple[Evidence, str]], labels: Sequence[str]) -> list[Verdict]:
        """One verdict per (evidence, gold label) pair."""


_VERIFIERS: dict[str, Callable[..., Verifier]] = {}


def register_verifier(cls: type[Verifier]) -> type[Verifier]:
    """Class decorator: make a verifier available under ``cls.name``."""
    _VERIFIERS[cls.name] = cls
    return cls


def make_verifier(name: str, **options: Any) -> Verifier:
    """Instantiate the verifier registered as ``name``."""
    import importlib

    for module in ("emoomni.extract.verify_rules", "emoomni.extract.hf_models", "emoomni.extract.server"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
    try:
        return _VERIFIERS[name](**options)
    except KeyError:
        raise KeyError(f"no verifier {name!r}; available: {', '.join(sorted(_VERIFIERS))}") from None


def llm_verdict(sample_id: str, reply: str, backend: str) -> Verdict:
    """Turn an LLM reply into a Verdict, recording an unparseable reply as such."""
    try:
        supported, analysis = parse_verdict(reply)
    except VerdictParseError as e:
        return Verdict(sample_id, None, f"unparseable reply: {e}", None, reply, backend)
    reason = "the model judged the evidence to support the label" if supported else "the model judged the evidence insufficient"
    return Verdict(sample_id, supported, reason, analysis, reply, backend)
