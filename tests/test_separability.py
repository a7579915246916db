"""The separability check's feature extractors and the independent face model."""

import numpy as np
import pytest

from emoomni.data.synthemo import face
from emoomni.extract.separability import (
    acoustic_features,
    cross_validated_accuracy,
    fer_read,
    pixel_features,
    raw_pixel_features,
    tight_crop,
)


def _clip(emotion, seed=0, shift=0):
    rng = np.random.default_rng(seed)
    ident = face.Identity.sample(rng)
    frames = face.render_clip(emotion, ident, 8, 112, rng)
    return np.roll(frames, shift, axis=2), ident


def test_change_spectrum_ignores_placement_but_raw_pixels_do_not():
    a, _ = _clip("surprised", shift=0)
    b, _ = _clip("surprised", shift=9)
    spec_gap = np.abs(pixel_features(a) - pixel_features(b)).mean()
    other, _ = _clip("sad")
    assert spec_gap < 0.5 * np.abs(pixel_features(a) - pixel_features(other)).mean()
    assert np.abs(raw_pixel_features(a) - raw_pixel_features(b)).mean() > 0.02


def test_neutral_clip_barely_changes():
    n, _ = _clip("neutral")
    s, _ = _clip("surprised")
    assert pixel_features(n).mean() < pixel_features(s).mean()


def test_acoustic_features_are_finite_and_track_loudness():
    sr = 16000
    t = np.arange(2 * sr) / sr
    tone = np.sin(2 * np.pi * 180 * t) * (t < 1.5)
    quiet, loud = acoustic_features(0.05 * tone, sr), acoustic_features(0.5 * tone, sr)
    assert np.isfinite(quiet).all() and quiet.shape == loud.shape
    assert loud[13 + 3] > quiet[13 + 3]  # log mean RMS where voiced
    assert np.exp(quiet[13]) == pytest.approx(180, rel=0.05)  # median F0


def test_cross_validated_accuracy_separates_and_fails_on_noise():
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 50)
    X_good = (y == "a")[:, None] + rng.normal(0, 0.1, (100, 3))
    X_noise = rng.normal(0, 1, (100, 3))
    from sklearn.linear_model import LogisticRegression

    assert cross_validated_accuracy(X_good, y, LogisticRegression())[0] > 0.95
    assert cross_validated_accuracy(X_noise, y, LogisticRegression())[0] < 0.75


def test_face_model_reads_a_rendered_surprise():
    rng = np.random.default_rng(1)
    ident = face.Identity.sample(rng)
    big = face.render_frame(face.EXPRESSIONS["surprised"], ident, 448, rng)
    box = [ident.cx * 448 - ident.scale * 448, ident.cy * 448 - ident.scale * ident.aspect * 448,
           ident.cx * 448 + ident.scale * 448, ident.cy * 448 + ident.scale * ident.aspect * 448]
    assert fer_read(tight_crop(big, box)) == "surprise"
