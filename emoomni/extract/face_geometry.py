"""Measure facial geometry from pixels and describe how the expression changes over a clip.

The face is found by chromaticity (light-invariant colour) against the frame's border colour;
brows, eyes and mouth are then measured in windows placed relative to the face, in the first
frame and at the apex (last) frame. Because identity, placement and lighting stay fixed within a
clip, the changes between the two frames describe the expression. Nothing but pixels is read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


class NoFaceError(ValueError):
    """No face-like region could be found in a frame."""


@dataclass(frozen=True)
class Geometry:
    """Measured positions and sizes, in units of the face's half-width."""

    brow_y: float  # brow height above the eye line (larger = higher)
    brow_slant: float  # inner end higher than outer end (positive) or lower (negative)
    eye_open: float  # mean eye height
    mouth_curve: float  # corners above the centre (positive = smile)
    mouth_open: float  # mouth height beyond a closed line
    mouth_width: float


def _chroma(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float32) + 1.0
    return img[..., :2] / img.sum(axis=-1, keepdims=True)


def find_face(frame: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """Face centre (x, y), half-width and skin mask (holes filled), from the largest skin region."""
    h, w, _ = frame.shape
    chroma = _chroma(frame)
    border = np.concatenate([chroma[:2].reshape(-1, 2), chroma[-2:].reshape(-1, 2),
                             chroma[:, :2].reshape(-1, 2), chroma[:, -2:].reshape(-1, 2)])
    bg = np.median(border, axis=0)
    fg = np.linalg.norm(chroma - bg, axis=-1) > 0.03
    labels, n = ndimage.label(fg)
    if n == 0:
        raise NoFaceError("no region differs from the background")
    sizes = ndimage.sum(fg, labels, range(1, n + 1))
    comp = labels == (1 + int(np.argmax(sizes)))
    ys, xs = np.nonzero(comp)
    cy0, cx0 = int(np.median(ys)), int(np.median(xs))
    patch = frame[max(cy0 - 4, 0) : cy0 + 5, max(cx0 - 4, 0) : cx0 + 5].reshape(-1, 3)
    skin_chroma = np.median(_chroma(patch[None])[0], axis=0)
    skin = (np.linalg.norm(chroma - skin_chroma, axis=-1) < 0.025) & comp
    labels, n = ndimage.label(skin)
    if n == 0:
        raise NoFaceError("no skin-coloured region")
    sizes = ndimage.sum(skin, labels, range(1, n + 1))
    face = ndimage.binary_fill_holes(labels == (1 + int(np.argmax(sizes))))
    if face.sum() < 0.03 * h * w:
        raise NoFaceError("the largest skin region is too small for a face")
    ys, xs = np.nonzero(face)
    x0, x1, y1 = xs.min(), xs.max(), ys.max()
    r = (x1 - x0) / 2
    cx = (x0 + x1) / 2
    ry = max((y1 - ys.min()) / 2, 1.1 * r) if (y1 - ys.min()) / 2 >= 1.05 * r else 1.22 * r
    return float(cx), float(y1 - ry), float(r), face


def _dark(frame: np.ndarray, skin_level: float, k: float) -> np.ndarray:
    return frame.astype(np.float32).mean(axis=-1) < k * skin_level


def measure(frame: np.ndarray, cx: float, cy: float, r: float, skin_mask: np.ndarray) -> Geometry:
    """Measure brows, eyes and mouth in windows placed relative to the face."""
    grey = frame.astype(np.float32).mean(axis=-1)
    level = float(np.median(grey[skin_mask]))
    h, w = grey.shape
    win = lambda x0, x1, y0, y1: (slice(max(int(y0), 0), min(int(y1), h)), slice(max(int(x0), 0), min(int(x1), w)))  # noqa: E731
    dark = grey < 0.62 * level
    light = grey > 0.85 * level
    feature = dark | (np.abs(grey - level) > 0.18 * level)

    def rows_of(mask, sl):
        ys, _ = np.nonzero(mask[sl])
        return ys + sl[0].start

    eye_y = cy - 0.17 * r
    rgb = frame.astype(np.float32)
    white = (rgb.max(axis=-1) - rgb.min(axis=-1) < 30) & (grey > 140)
    brows, eyes = {"inner": [], "outer": []}, []
    for side in (-1, 1):
        ex = cx + side * 0.38 * r
        eyes.append(white[win(ex - 0.2 * r, ex + 0.2 * r, eye_y - 0.2 * r, eye_y + 0.2 * r)].sum() / r**2)
        for part, (a, b) in (("inner", (0.13, 0.25)), ("outer", (0.5, 0.62))):
            x0, x1 = sorted((cx + side * a * r, cx + side * b * r))
            sl = win(x0, x1, eye_y - 0.55 * r, eye_y + 0.05 * r)
            rows = np.flatnonzero(dark[sl].mean(axis=1) > 0.2)
            if len(rows):
                run_end = rows[0]
                while run_end + 1 in rows:
                    run_end += 1
                brows[part].append((eye_y - (sl[0].start + (rows[0] + run_end) / 2)) / r)
    inner = float(np.mean(brows["inner"])) if brows["inner"] else 0.25
    outer = float(np.mean(brows["outer"])) if brows["outer"] else 0.25
    my = cy + 0.55 * r
    sl = win(cx - 0.5 * r, cx + 0.5 * r, my - 0.35 * r, my + 0.35 * r)
    m = feature[sl] & ~light[sl]
    lab, n = ndimage.label(m)
    if n:
        sizes = ndimage.sum(m, lab, range(1, n + 1))
        m = lab == (1 + int(np.argmax(sizes)))
    ys, xs = np.nonzero(m)
    if len(xs) < 3:
        return Geometry(float((inner + outer) / 2), float(inner - outer), float(np.mean(eyes)), 0.0, 0.0, 0.0)
    width = (xs.max() - xs.min() + 1) / r
    span = xs.max() - xs.min() + 1
    centre = np.abs(xs - (xs.min() + xs.max()) / 2) < 0.2 * span
    corners = np.abs(xs - (xs.min() + xs.max()) / 2) > 0.35 * span
    curve = (ys[centre].mean() - ys[corners].mean()) / r if centre.any() and corners.any() else 0.0
    heights = [np.ptp(ys[xs == x]) + 1 for x in np.unique(xs[centre])] if centre.any() else [0]
    return Geometry(float((inner + outer) / 2), float(inner - outer), float(np.mean(eyes)), float(curve),
                    float(np.median(heights) / r), float(width))


@dataclass(frozen=True)
class Change:
    """How the expression changes from the first frame to the apex frame."""

    brow_raise: float
    brow_slant: float
    eye_ratio: float
    mouth_curve: float
    mouth_open: float


def expression_change(frames: np.ndarray) -> Change:
    """Measure the face in the first and last frames and return the change (raises NoFaceError)."""
    cx, cy, r, mask = find_face(frames[0])
    a = measure(frames[0], cx, cy, r, mask)
    b = measure(frames[-1], cx, cy, r, mask)
    return Change(
        brow_raise=b.brow_y - a.brow_y, brow_slant=b.brow_slant - a.brow_slant,
        eye_ratio=b.eye_open / a.eye_open if a.eye_open > 0 else 1.0,
        mouth_curve=b.mouth_curve - a.mouth_curve, mouth_open=b.mouth_open - a.mouth_open,
    )


def suggest(c: Change) -> str:
    """The emotion a change of expression suggests, by transparent rules.

    >>> suggest(Change(0.2, 0.0, 1.6, 0.0, 0.3))
    'surprised'
    >>> suggest(Change(0.0, 0.0, 1.0, 0.0, 0.0))
    'neutral'
    """
    if c.eye_ratio > 1.22:
        return "worried" if c.mouth_open < 0.16 or (c.brow_slant > 0.05 and c.mouth_open < 0.2) else "surprised"
    if c.brow_slant < -0.05 or c.brow_raise < -0.06:
        return "angry"
    if c.mouth_curve > 0.06:
        return "happy"
    if c.brow_slant > 0.08 or c.mouth_curve < -0.06 or c.eye_ratio < 0.8:
        return "sad"
    return "neutral"


def describe(c: Change) -> str:
    """A sentence-level description of the change, for the ``[vision]`` step."""
    parts = []
    if abs(c.brow_raise) > 0.04:
        parts.append("the brows rise" if c.brow_raise > 0 else "the brows lower")
    if c.brow_slant > 0.08:
        parts.append("their inner ends lift and draw together")
    elif c.brow_slant < -0.08:
        parts.append("their inner ends pull down into a frown")
    if c.eye_ratio > 1.15:
        parts.append("the eyes open wide")
    elif c.eye_ratio < 0.85:
        parts.append("the eyes narrow")
    if c.mouth_curve > 0.05:
        parts.append("the mouth corners turn up")
    elif c.mouth_curve < -0.05:
        parts.append("the mouth corners turn down")
    if c.mouth_open > 0.08:
        parts.append("the lips part")
    if not parts:
        return "The face stays still and relaxed through the clip; brows, eyes and mouth barely move."
    text = ", ".join(parts)
    return f"Over the clip {text}."
