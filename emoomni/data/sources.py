"""Where samples come from: the generated SynthEmo set or a local data set's manifest, resolved in one place.

A stage, a benchmark or GRPO names its source as ``synthemo`` or ``manifest`` (with a manifest path and a
data root that may hold ``$VARS``). :func:`read_source` resolves either; the SynthEmo set itself is built
by the stage layer, which hands its loader down, so nothing here knows how the book is ordered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from emoomni.data.manifest import Sample, read_manifest

SOURCES = ("synthemo", "manifest")

SampleSet = tuple[list[Sample], Path]
"""Samples and the data root their media paths are relative to."""


def expand(value: str | None, what: str) -> Path:
    """A path with ``$VARS`` and ``~`` expanded; a clear error when it is not set or a variable is unset.

    >>> expand("/data/x", "root")
    PosixPath('/data/x')
    >>> expand(None, "grpo.data_root")
    Traceback (most recent call last):
    ValueError: grpo.data_root is not set
    """
    if not value:
        raise ValueError(f"{what} is not set")
    expanded = os.path.expandvars(value)
    if "$" in expanded:
        raise FileNotFoundError(f"{what}: environment variable(s) unset in {value!r}")
    return Path(expanded).expanduser()


def read_source(source: str, manifest: str | None, data_root: str | None, synthemo: Callable[[], SampleSet],
                what: str) -> SampleSet:
    """The samples of ``source`` (all splits) and their data root; ``what`` names the setting in errors."""
    if source == "synthemo":
        return synthemo()
    if source == "manifest":
        root = expand(data_root, f"{what}: data_root")
        return read_manifest(expand(manifest, f"{what}: manifest"), root), root
    raise ValueError(f"{what}: unknown source {source!r}; use one of {', '.join(SOURCES)}")


def select(samples: Sequence[Sample], split: str | None = None, condition: str | None = None,
           max_samples: int | None = None) -> list[Sample]:
    """The samples of ``split`` and SynthEmo ``condition`` (None: any), the first ``max_samples`` of them."""
    chosen = [s for s in samples if (split is None or s.split == split)
              and (condition is None or s.meta.get("condition") == condition)]
    return chosen[:max_samples] if max_samples else chosen
