"""Rendered faces whose expression carries a visual emotion through facial geometry.

The geometry of an expression is a handful of numbers (brow height and slant, eye opening,
mouth curvature, opening and width), interpolated from neutral at the first frame to the apex
over the clip. Identity (face shape, skin tone, hair, glasses), placement, lighting and noise
vary per clip so that no single pixel gives the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


@dataclass(frozen=True)
class Expression:
    """Facial geometry, each value in units of the face's half-width (or a dimensionless slant)."""

    brow_raise: float = 0.0  # brows moved up (+) or down (-)
    brow_slant: float = 0.0  # inner ends up (+, sad / worried) or down (-, angry)
    eye_open: float = 1.0  # eyelid opening, 1 = relaxed
    mouth_curve: float = 0.0  # corners up (+, smile) or down (-)
    mouth_open: float = 0.0  # lips apart
    mouth_width: float = 1.0  # relative mouth width


EXPRESSIONS: dict[str, Expression] = {
    "neutral": Expression(),
    "happy": Expression(brow_raise=0.06, eye_open=0.7, mouth_curve=0.30, mouth_open=0.16, mouth_width=1.35),
    "sad": Expression(brow_raise=0.04, brow_slant=0.6, eye_open=0.5, mouth_curve=-0.32, mouth_width=0.85),
    "angry": Expression(brow_raise=-0.22, brow_slant=-0.9, eye_open=0.45, mouth_curve=-0.04, mouth_open=0.0, mouth_width=0.75),
    "worried": Expression(brow_raise=0.14, brow_slant=0.50, eye_open=1.6, mouth_curve=-0.10, mouth_open=0.14, mouth_width=1.2),
    "surprised": Expression(brow_raise=0.22, eye_open=1.6, mouth_open=0.32, mouth_width=0.75),
}


def blend(a: Expression, b: Expression, t: float) -> Expression:
    """Linear interpolation between two expressions.

    >>> blend(EXPRESSIONS["neutral"], EXPRESSIONS["surprised"], 0.5).mouth_open
    0.16
    """
    return Expression(*(x + t * (y - x) for x, y in zip(vars(a).values(), vars(b).values())))


@dataclass(frozen=True)
class Identity:
    """What varies between people and shots: shape, colours, hair, glasses, placement, light, noise."""

    aspect: float
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_style: int  # 0 none, 1 short cap, 2 long sides
    glasses: bool
    background: tuple[int, int, int]
    cx: float
    cy: float
    scale: float
    light: float  # horizontal lighting gradient strength
    noise: float
    intensity: float  # how far toward the apex the expression goes

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Identity":
        """Draw a random identity."""
        tone = rng.uniform(0, 1)
        skin = tuple(int(v) for v in np.array([235, 200, 170]) * (1 - tone) + np.array([110, 75, 50]) * tone)
        hair = tuple(int(v) for v in rng.choice([[30, 20, 15], [90, 60, 30], [200, 170, 90], [120, 120, 120], [150, 50, 20]]))
        bg = tuple(int(v) for v in rng.integers(40, 215, size=3))
        return cls(
            aspect=float(rng.uniform(1.1, 1.35)), skin=skin, hair=hair, hair_style=int(rng.integers(0, 3)),
            glasses=bool(rng.random() < 0.25), background=bg, cx=float(rng.uniform(0.42, 0.58)),
            cy=float(rng.uniform(0.45, 0.57)), scale=float(rng.uniform(0.34, 0.42)), light=float(rng.uniform(-0.25, 0.25)),
            noise=float(rng.uniform(2, 8)), intensity=float(rng.uniform(0.8, 1.0)),
        )


def render_frame(expr: Expression, ident: Identity, size: int, rng: np.random.Generator, supersample: int = 2) -> np.ndarray:
    """Draw one RGB frame (uint8, size x size) of a face with the given expression and identity."""
    S = size * supersample
    img = Image.new("RGB", (S, S), ident.background)
    d = ImageDraw.Draw(img)
    r = ident.scale * S  # face half-width
    cx, cy = ident.cx * S, ident.cy * S
    ry = r * ident.aspect
    if ident.hair_style == 2:
        d.ellipse([cx - 1.15 * r, cy - 1.1 * ry, cx + 1.15 * r, cy + 0.55 * ry], fill=ident.hair)
    d.ellipse([cx - r, cy - ry, cx + r, cy + ry], fill=ident.skin)
    if ident.hair_style >= 1:
        d.chord([cx - 1.02 * r, cy - 1.08 * ry, cx + 1.02 * r, cy - 0.25 * ry], 180, 360, fill=ident.hair)
    dark = tuple(int(c * 0.35) for c in ident.skin)
    _eyes(d, expr, cx, cy, r, dark)
    _brows(d, expr, cx, cy, r, ident.hair if ident.hair_style else dark)
    _nose(d, cx, cy, r, tuple(int(c * 0.8) for c in ident.skin))
    _mouth(d, expr, cx, cy, r, ident)
    if ident.glasses:
        for side in (-1, 1):
            ex = cx + side * 0.38 * r
            d.ellipse([ex - 0.25 * r, cy - 0.35 * r, ex + 0.25 * r, cy + 0.02 * r], outline=(20, 20, 20), width=max(2, S // 100))
        d.line([cx - 0.13 * r, cy - 0.2 * r, cx + 0.13 * r, cy - 0.2 * r], fill=(20, 20, 20), width=max(2, S // 100))
    img = img.filter(ImageFilter.GaussianBlur(supersample * 0.4)).resize((size, size), Image.Resampling.LANCZOS)
    arr = np.asarray(img).astype(np.float32)
    ramp = 1 + ident.light * np.linspace(-1, 1, size)[None, :, None]
    arr = arr * ramp + rng.normal(0, ident.noise, arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def _eyes(d, e, cx, cy, r, color):
    for side in (-1, 1):
        ex, ey = cx + side * 0.38 * r, cy - 0.17 * r
        w, h = 0.18 * r, 0.075 * r * e.eye_open
        d.ellipse([ex - w, ey - h, ex + w, ey + h], fill=(215, 210, 205))
        pr = min(0.085 * r, h * 1.05)
        d.ellipse([ex - pr, ey - pr, ex + pr, ey + pr], fill=color)
        lid = max(2, int(0.035 * r))
        d.arc([ex - w, ey - h, ex + w, ey + h], 180, 360, fill=(25, 20, 20), width=lid)


def _brows(d, e, cx, cy, r, color):
    y0 = cy - 0.42 * r - e.brow_raise * r
    for side in (-1, 1):
        inner = (cx + side * 0.15 * r, y0 - e.brow_slant * 0.15 * r)
        outer = (cx + side * 0.58 * r, y0 + e.brow_slant * 0.1 * r)
        d.line([inner, outer], fill=color, width=max(2, int(0.09 * r)))
    if e.brow_slant < -0.3:  # a frown furrows the skin between the brows
        for side in (-1, 1):
            x = cx + side * 0.05 * r
            d.line([(x, y0 - 0.05 * r), (x, y0 + 0.12 * r)], fill=color, width=max(1, int(0.025 * r)))


def _nose(d, cx, cy, r, color):
    d.line([(cx, cy - 0.05 * r), (cx - 0.06 * r, cy + 0.22 * r), (cx + 0.05 * r, cy + 0.25 * r)], fill=color, width=max(1, int(0.03 * r)))


def _mouth(d, e, cx, cy, r, ident):
    my = cy + 0.55 * r
    hw = 0.3 * r * e.mouth_width
    curve = e.mouth_curve * r
    gap = e.mouth_open * r
    xs = np.linspace(-1, 1, 24)
    centre = my + curve * (0.5 - xs * xs)  # corners rise with a positive curve
    upper = list(zip(cx + xs * hw, centre - gap * 0.5 * (1 - xs * xs)))
    lower = list(zip(cx + xs * hw, centre + gap * 0.5 * (1 - xs * xs)))
    lip = tuple(int(c * 0.55) for c in ident.skin)
    if gap > 0.01 * r:
        d.polygon(upper + lower[::-1], fill=(55, 15, 20), outline=lip)
        if e.mouth_curve > 0.1:  # a broad smile shows the upper teeth
            teeth = list(zip(cx + xs * hw * 0.8, centre - gap * 0.45 * (1 - xs * xs)))
            d.polygon(teeth + [(cx + x * hw * 0.8, c) for x, c in zip(xs[::-1], (centre - gap * 0.05)[::-1])], fill=(235, 235, 225))
    else:
        d.line(upper, fill=lip, width=max(2, int(0.06 * r)))


def render_clip(emotion: str, ident: Identity, frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A (frames, size, size, 3) uint8 clip: neutral at the first frame, the apex from about 40 % on."""
    apex = EXPRESSIONS[emotion]
    out = []
    for i in range(frames):
        t = min(1.0, i / max(1, round(0.4 * (frames - 1)))) * ident.intensity
        out.append(render_frame(blend(EXPRESSIONS["neutral"], apex, t), ident, size, rng))
    return np.stack(out)


def with_expression_scale(e: Expression, k: float) -> Expression:
    """An expression moved a fraction ``k`` of the way from neutral (used for subtle variants)."""
    return replace(blend(EXPRESSIONS["neutral"], e, k))
