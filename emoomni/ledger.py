"""What the stage calls of this process did with each cached output: reused it, or computed it.

Each stage notes its outcome once per output path; :func:`table` lists them in first-call order,
so a notebook can end by saying which of its inputs came from the cache and which it had to build.

>>> clear(); note("SFT", "runs/x/sft", reused=True); note("GRPO", "runs/x/grpo", reused=False)
>>> note("SFT", "runs/x/sft", reused=True)  # a second call for the same output adds nothing
>>> [(e.stage, e.outcome) for e in entries()]
[('SFT', 'reused'), ('GRPO', 'computed')]
>>> clear()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from emoomni.paths import shown

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One stage output and what this process did with it."""

    stage: str
    path: str
    outcome: str
    """``reused`` (found complete in the cache) or ``computed`` (built, or resumed and finished)."""


_ENTRIES: dict[tuple[str, str], Entry] = {}


def note(stage: str, path: str | Path, reused: bool) -> None:
    """Record (and log at INFO) that ``stage`` reused or computed ``path``; the first outcome per path stays."""
    key = (stage, str(path))
    if key in _ENTRIES:
        return
    _ENTRIES[key] = Entry(stage, str(path), "reused" if reused else "computed")
    log.info("%s: %s %s", stage, _ENTRIES[key].outcome, path)


def entries() -> list[Entry]:
    """Every stage output noted so far, first call first."""
    return list(_ENTRIES.values())


def clear() -> None:
    """Forget every noted outcome."""
    _ENTRIES.clear()


def table(root: str | Path | None = None):
    """The noted outcomes as a frame (stage, outcome, output), paths shown relative to ``root``."""
    import pandas as pd

    return pd.DataFrame([{"stage": e.stage, "outcome": e.outcome,
                          "output": e.path if root is None else shown(e.path, root)} for e in entries()],
                        columns=["stage", "outcome", "output"])


def summary() -> str:
    """One sentence: how many outputs were reused and which stages computed something.

    >>> clear(); note("SFT", "a", True); note("GRPO", "b", False); note("evaluation", "c", False)
    >>> summary()
    'Reused 1 cached output (SFT); computed 2 (GRPO, evaluation).'
    >>> clear(); summary()
    'No stage ran.'
    """
    if not _ENTRIES:
        return "No stage ran."
    reused = [e.stage for e in entries() if e.outcome == "reused"]
    computed = [e.stage for e in entries() if e.outcome == "computed"]

    def names(stages: list[str]) -> str:
        return f" ({', '.join(dict.fromkeys(stages))})" if stages else ""

    plural = "s" if len(reused) != 1 else ""
    return f"Reused {len(reused)} cached output{plural}{names(reused)}; computed {len(computed)}{names(computed)}."
