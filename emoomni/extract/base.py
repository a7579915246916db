"""Extractor protocol, the Evidence record and a registry of backends chosen by name in the params.

An extractor turns a batch of Samples into one evidence text per sample for its modality
(``vision``, ``audio`` or ``dialogue``). Backends register themselves under a name; the profile
picks one per modality. A backend raises :class:`ExtractionError` for a sample it cannot handle
(a missing audio track, an empty model reply); the pipeline records it per sample and goes on.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from emoomni.data.manifest import Sample, resolve_media
from emoomni.media import MediaError, read_audio

MODALITIES = ("vision", "audio", "dialogue")


class ExtractionError(RuntimeError):
    """One sample's evidence could not be extracted; the message names the file and the problem."""


@dataclass(frozen=True)
class Evidence:
    """Per-modality evidence text for one sample, with the backend and seconds behind each."""

    sample_id: str
    vision: str | None = None
    audio: str | None = None
    dialogue: str | None = None
    backends: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """One JSONL line."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Evidence":
        """Build from a decoded JSONL line."""
        return cls(**d)

    @property
    def complete(self) -> bool:
        """True when every modality has evidence text."""
        return all(getattr(self, m) for m in MODALITIES)


class Extractor(ABC):
    """Describe one modality of a batch of samples as text."""

    modality: ClassVar[str]
    name: ClassVar[str]

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abstractmethod
    def describe(self, batch: Sequence[Sample], data_root: Path, labels: Sequence[str]) -> list[str]:
        """One evidence text per sample; raise ExtractionError if a sample cannot be described."""

    def cache_key(self) -> str:
        """What, besides the media, decides this backend's output: its name and options (prompts included)."""
        blob = json.dumps({"name": self.name, "modality": self.modality, "options": self.options},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def media_path(sample: Sample, data_root: Path, kind: str) -> Path:
    """The sample's file for ``kind``: its video, or for audio its audio file falling back to the video's track."""
    rel = sample.video if kind == "video" else (sample.audio or sample.video)
    if not rel:
        raise ExtractionError(f"sample {sample.id!r}: no {'video' if kind == 'video' else 'audio or video'} file")
    return resolve_media(data_root, rel)


def load_clip_audio(sample: Sample, data_root: Path, sample_rate: int = 16000) -> np.ndarray:
    """Mono float32 audio of a sample (its audio file, else its video's track); ExtractionError if there is none."""
    path = media_path(sample, data_root, "audio")
    try:
        audio = read_audio(path, sample_rate)
    except MediaError as e:
        raise ExtractionError(f"sample {sample.id!r}: {e}") from None
    if audio.size == 0:
        raise ExtractionError(f"sample {sample.id!r}: {path}: the audio track is empty")
    return audio


_REGISTRY: dict[tuple[str, str], Callable[..., Extractor]] = {}


def register(cls: type[Extractor]) -> type[Extractor]:
    """Class decorator: make a backend available under ``(cls.modality, cls.name)``."""
    key = (cls.modality, cls.name)
    if key in _REGISTRY and _REGISTRY[key] is not cls:
        raise ValueError(f"backend {cls.name!r} for {cls.modality} registered twice")
    _REGISTRY[key] = cls
    return cls


def backends(modality: str) -> list[str]:
    """Names of the registered backends for a modality."""
    _load_builtin()
    return sorted(name for m, name in _REGISTRY if m == modality)


def make_extractor(modality: str, name: str, **options: Any) -> Extractor:
    """Instantiate the backend registered as ``name`` for ``modality``."""
    _load_builtin()
    try:
        cls = _REGISTRY[(modality, name)]
    except KeyError:
        raise KeyError(f"no {modality} backend {name!r}; available: {', '.join(backends(modality))}") from None
    return cls(**options)


def _load_builtin() -> None:
    """Import the modules whose classes register the built-in backends."""
    import importlib

    for module in ("emoomni.extract.signal", "emoomni.extract.hf_models", "emoomni.extract.server"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
