"""A cue classifier fitted on a labelled reference split, for the offline analysers' ``fit`` option.

Why. The hand-written readings (the face geometry's rules, the nearest prosody prototype) name the
designed face cue of 83 % and the voice cue of 64 % of SynthEmo's ``train`` clips, so OmniCoT's
evidence, and every model trained on it, inherits their mistakes. The paper's extractors (Qwen3-VL,
Qwen2-Audio) are pretrained models that learned emotion from labelled data of their own. This stands
in for that: a logistic regression (scikit-learn) on the analyser's own measured features, fitted on
the clips of another split of the data root's manifest (SynthEmo's ``pretrain`` split, which the tiny
base also learns from) with their designed cues. The clips being described are never read for labels,
and describing a clip of the reference split is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoomni.data.manifest import Sample, read_manifest, resolve_media
from emoomni.extract.base import ExtractionError
from emoomni.progress import tqdm
from emoomni.records import write_lines

CUE_KEYS = {"vision": "vision", "audio": "audio"}


class ReferenceError(ValueError):
    """The reference split cannot train a classifier (missing, unlabelled, one class, or overlapping the described clips)."""


@dataclass(frozen=True)
class FitSpec:
    """Where the labelled reference clips are: a manifest inside the data root, its split, how many clips."""

    manifest: str = "manifest.jsonl"
    split: str = "pretrain"
    clips: int = 300

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> FitSpec | None:
        """The ``fit`` option of an analyser (a mapping, or ``True`` for the defaults); None when absent.

        >>> FitSpec.of({"fit": {"split": "pretrain", "clips": 50}})
        FitSpec(manifest='manifest.jsonl', split='pretrain', clips=50)
        >>> FitSpec.of({}) is None
        True
        """
        fit = options.get("fit")
        if not fit:
            return None
        return cls() if fit is True else cls(**dict(fit))


@dataclass(frozen=True, eq=False)
class CueClassifier:
    """A standardised multinomial logistic regression stored as plain arrays (JSON, never pickle)."""

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, cues: Sequence[str]) -> CueClassifier:
        """Fit on rows of features and their cues (scikit-learn's StandardScaler and LogisticRegression)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        if len(set(cues)) < 2:
            raise ReferenceError(f"the reference clips carry {len(set(cues))} cue(s); a classifier needs two or more")
        scaler = StandardScaler().fit(features)
        model = LogisticRegression(max_iter=5000).fit(scaler.transform(features), list(cues))
        return cls(tuple(str(c) for c in model.classes_), scaler.mean_, scaler.scale_, model.coef_, model.intercept_)

    def predict(self, x: np.ndarray) -> str:
        """The likeliest cue of one feature vector.

        >>> c = CueClassifier(("sad", "happy"), np.zeros(1), np.ones(1), np.array([[1.0]]), np.zeros(1))
        >>> c.predict(np.array([2.0])), c.predict(np.array([-2.0]))
        ('happy', 'sad')
        """
        z = (np.asarray(x, float) - self.mean) / self.scale
        scores = self.coef @ z + self.intercept
        if len(self.classes) == 2:  # scikit-learn's binary form: one row, positive for the second class
            return self.classes[int(scores[0] > 0)]
        return self.classes[int(np.argmax(scores))]

    def to_json(self) -> str:
        """The classifier as JSON."""
        return json.dumps({"classes": self.classes, **{k: getattr(self, k).tolist()
                                                       for k in ("mean", "scale", "coef", "intercept")}})

    @classmethod
    def from_json(cls, text: str) -> CueClassifier:
        """Read :meth:`to_json`'s output back."""
        d = json.loads(text)
        return cls(tuple(d["classes"]), *(np.array(d[k], float) for k in ("mean", "scale", "coef", "intercept")))


def fitted_classifier(spec: FitSpec, modality: str, features: Callable[[Sample, Path], np.ndarray],
                      described: Sequence[Sample], data_root: Path, cache_dir: Path | None,
                      version: str) -> tuple[CueClassifier, dict]:
    """Fit (or read from ``cache_dir``) the ``modality`` cue classifier on ``spec``'s reference clips.

    ``features(sample, data_root)`` measures one clip (an :class:`ExtractionError` skips the clip); ``version`` names the feature set in the cache key. Returns the classifier and a report
    (clips used, skipped with their errors, training accuracy).
    """
    reference = [s for s in read_manifest(resolve_media(data_root, spec.manifest), data_root)
                 if s.split == spec.split][: spec.clips]
    if not reference:
        raise ReferenceError(f"no clips of split {spec.split!r} in {spec.manifest} to fit the {modality} classifier on")
    unlabelled = [s.id for s in reference if CUE_KEYS[modality] not in s.meta.get("cues", {})]
    if unlabelled:
        raise ReferenceError(f"{len(unlabelled)} reference clip(s) of split {spec.split!r} have no designed "
                             f"{modality} cue (meta['cues']), e.g. {unlabelled[0]!r}")
    overlap = {s.id for s in reference} & {s.id for s in described}
    if overlap:
        raise ReferenceError(f"{len(overlap)} described clip(s) are also reference clips of split {spec.split!r}, "
                             f"e.g. {sorted(overlap)[0]!r}: the evidence would read its own labels")
    ids = hashlib.sha256("\n".join(s.id for s in reference).encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"{modality}-fit-{version}-{spec.split}-{len(reference)}-{ids}.json" if cache_dir else None
    if path and path.exists():
        saved = json.loads(path.read_text())
        return CueClassifier.from_json(saved["classifier"]), saved["report"]
    rows, cues, skipped = [], [], {}
    for s in tqdm(reference, desc=f"{modality} reference clips"):
        try:
            rows.append(features(s, data_root))
            cues.append(s.meta["cues"][CUE_KEYS[modality]])
        except ExtractionError as e:  # an unreadable clip is skipped and reported, as in extraction
            skipped[s.id] = str(e)
    if not rows:
        raise ReferenceError(f"none of the {len(reference)} reference clips could be measured, e.g. {next(iter(skipped.values()))}")
    classifier = CueClassifier.fit(np.array(rows), cues)
    hits = sum(classifier.predict(x) == c for x, c in zip(rows, cues))
    report = {"split": spec.split, "clips": len(rows), "skipped": skipped, "train_accuracy": round(hits / len(rows), 4)}
    if path:
        write_lines([json.dumps({"classifier": classifier.to_json(), "report": report})], path)
    return classifier, report
