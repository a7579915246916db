"""Where things live: the repository root, runs and caches, never relative to the working directory."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def runs_dir(profile: str) -> Path:
    """The directory holding every stage's results for one profile (``$EMOOMNI_RUNS`` overrides the root)."""
    root = Path(os.environ.get("EMOOMNI_RUNS", REPO_ROOT / "runs"))
    return root / profile


def cache_dir() -> Path:
    """The directory for caches shared across profiles (``$EMOOMNI_CACHE`` overrides it)."""
    return Path(os.environ.get("EMOOMNI_CACHE", REPO_ROOT / ".cache" / "emoomni"))
