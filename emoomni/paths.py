"""Where things live: the repository root, runs and caches, never relative to the working directory."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def runs_dir(profile: str) -> Path:
    """The directory holding every stage's results for one profile (``$EMOOMNI_RUNS`` overrides the root)."""
    root = Path(os.environ.get("EMOOMNI_RUNS", REPO_ROOT / "runs"))
    return root / profile


def profile_runs(params) -> Path:
    """The runs directory of a profile's parameters: the one it shares (``runs``) or its own (``profile``).

    >>> from types import SimpleNamespace as P
    >>> profile_runs(P(profile="study", runs="default")).name, profile_runs(P(profile="smoke", runs=None)).name
    ('default', 'smoke')
    """
    return runs_dir(params.runs or params.profile)


def shown(path: str | Path, root: str | Path) -> str:
    """``path`` relative to ``root`` when it lies inside it, else as given.

    >>> shown("/r/runs/default/sft", "/r/runs/default"), shown("Qwen/Qwen2.5-Omni-7B", "/r/runs/default")
    ('sft', 'Qwen/Qwen2.5-Omni-7B')
    """
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def cache_dir() -> Path:
    """The directory for caches shared across profiles (``$EMOOMNI_CACHE`` overrides it)."""
    return Path(os.environ.get("EMOOMNI_CACHE", REPO_ROOT / ".cache" / "emoomni"))
