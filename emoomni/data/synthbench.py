"""SynthBench: a generated, OmniBench-format set of general perception questions over an image and a sound.

Each item pairs a drawn picture (flat-coloured shapes on a light grey canvas, PIL, no anti-aliasing) with
a sound clip (tones, beeps and noise from numpy, speech from ``espeak-ng``) and asks one four-option
question about the picture, the sound, or both. The other medium of a one-modality question is an
unrelated distractor, as in OmniBench where every item carries both. Answers are right by construction:
the media are rendered from the same plan as the question.

The set is written in OmniBench's own layout, so :func:`emoomni.data.omnibench.index` reads it back into
the very :class:`~emoomni.data.omnibench.BenchItem` records :func:`generate` returns::

    <root>/dataset/synthbench.jsonl            one OmniBench-style record per line
    <root>/mm_data/image/<index>.png           224 x 224 RGB
    <root>/mm_data/audio/<index>.wav           mono, 16 kHz (speech: espeak-ng's 22.05 kHz)

Item ``i`` depends only on ``(seed, i)``: a larger set extends a smaller one with the same seed. Task
types cycle through :data:`TASKS`, so every type is equally represented.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw

from emoomni.data.omnibench import BenchItem
from emoomni.data.synthemo.voice import require
from emoomni.records import write_lines

ITEMS_FILE = "dataset/synthbench.jsonl"
SIZE = 224
BACKGROUND = (240, 240, 240)
SAMPLE_RATE = 16000
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (30, 160, 60), "blue": (40, 80, 220),
    "yellow": (235, 200, 20), "purple": (140, 60, 190), "orange": (245, 130, 20),
}
SHAPES = ("circle", "square", "triangle", "diamond", "star")
CORNERS = ("top left", "top right", "bottom left", "bottom right")
CONTOURS = {  # pitch contour -> (start Hz, end Hz, option text)
    "high": (1400.0, 1400.0, "a high, steady tone"),
    "low": (200.0, 200.0, "a low, steady tone"),
    "rising": (250.0, 1400.0, "a tone rising in pitch"),
    "falling": (1400.0, 250.0, "a tone falling in pitch"),
}
SOUND_KINDS = {"speech": "a person speaking", "tone": "one steady tone", "beeps": "a series of short beeps",
               "noise": "a hiss of noise"}
WORDS = ("apple", "river", "window", "garden", "pencil", "rocket", "button", "candle", "ladder", "mountain",
         "kitchen", "tiger")
BEEP_HZ, BEEP_ON, BEEP_OFF, LEAD = 880.0, 0.12, 0.18, 0.25
"""Beeps: frequency, length and gap (seconds); LEAD is the silence before and after every clip."""
NUMBERS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10")


@dataclass(frozen=True)
class Shape:
    """One shape on the canvas: kind, colour name, centre and radius in pixels."""

    kind: str
    colour: str
    cx: int
    cy: int
    r: int


@dataclass(frozen=True)
class Clip:
    """One sound: ``kind`` in SOUND_KINDS with its parameters (contour, beep count, spoken text)."""

    kind: str
    contour: str = "high"
    beeps: int = 0
    text: str = ""
    voice: str = "m1"


@dataclass
class Plan:
    """Everything one item needs: the media to render and the question with its options and answer."""

    task_type: str
    question: str
    options: list[str]
    answer: str
    shapes: list[Shape] = field(default_factory=list)
    clip: Clip = field(default_factory=lambda: Clip("noise"))


# ---- scenes and clips ------------------------------------------------------------------------------------


def _scene(rng: np.random.Generator, n: int, kinds: list[str] | None = None,
           colours: list[str] | None = None) -> list[Shape]:
    """``n`` non-touching shapes, one per cell of a 3 x 3 grid, kinds and colours random unless given."""
    cell = SIZE // 3
    cells = rng.permutation(9)[:n]
    shapes = []
    for j, c in enumerate(cells):
        r = int(rng.integers(16, 25))
        slack = cell // 2 - r - 4
        cx = int((c % 3) * cell + cell // 2 + rng.integers(-slack, slack + 1))
        cy = int((c // 3) * cell + cell // 2 + rng.integers(-slack, slack + 1))
        kind = kinds[j] if kinds else str(rng.choice(SHAPES))
        colour = colours[j] if colours else str(rng.choice(list(COLOURS)))
        shapes.append(Shape(kind, colour, cx, cy, r))
    return shapes


def _single(rng: np.random.Generator, corner: str | None = None) -> Shape:
    """One larger shape well inside one quadrant of the canvas."""
    corner = corner or str(rng.choice(CORNERS))
    r = int(rng.integers(22, 31))
    half = SIZE // 2
    x0 = half if corner.endswith("right") else 0
    y0 = half if corner.startswith("bottom") else 0
    cx = x0 + int(rng.integers(r + 8, half - r - 8 + 1))
    cy = y0 + int(rng.integers(r + 8, half - r - 8 + 1))
    return Shape(str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS))), cx, cy, r)


def _distractor_clip(rng: np.random.Generator) -> Clip:
    """An unrelated sound for a picture question (speech never names a colour, shape or number)."""
    kind = str(rng.choice(list(SOUND_KINDS)))
    return Clip(kind, contour=str(rng.choice(list(CONTOURS))), beeps=int(rng.integers(2, 6)) if kind == "beeps" else 0,
                text=str(rng.choice(WORDS)) if kind == "speech" else "", voice=_voice(rng))


def _voice(rng: np.random.Generator) -> str:
    return str(rng.choice(("m1", "m3", "f1", "f3")))


def _numbers(rng: np.random.Generator, answer: int, low: int, high: int) -> tuple[list[str], str]:
    """Four distinct counts in ``[low, high]`` including ``answer``, as option texts."""
    pool = [k for k in range(low, high + 1) if k != answer]
    near = sorted(pool, key=lambda k: (abs(k - answer), rng.random()))[:5]
    picks = [answer, *(int(k) for k in rng.choice(near, 3, replace=False))]
    return [NUMBERS[k] for k in picks], NUMBERS[answer]


def _others(rng: np.random.Generator, answer: str, pool: list[str] | tuple[str, ...]) -> list[str]:
    """The answer and three other values drawn from ``pool``."""
    rest = [p for p in pool if p != answer]
    return [answer, *(str(x) for x in rng.choice(rest, 3, replace=False))]


# ---- the task types --------------------------------------------------------------------------------------


def _colour(rng: np.random.Generator) -> Plan:
    shape = _single(rng)
    return Plan("Colour", "What colour is the shape in the picture?", _others(rng, shape.colour, list(COLOURS)),
                shape.colour, [shape], _distractor_clip(rng))


def _shape(rng: np.random.Generator) -> Plan:
    shape = _single(rng)
    return Plan("Shape", "Which shape is drawn in the picture?", _others(rng, shape.kind, SHAPES), shape.kind,
                [shape], _distractor_clip(rng))


def _count(rng: np.random.Generator) -> Plan:
    n = int(rng.integers(1, 7))
    options, answer = _numbers(rng, n, 1, 9)
    return Plan("Object Count", "How many shapes are in the picture?", options, answer, _scene(rng, n),
                _distractor_clip(rng))


def _position(rng: np.random.Generator) -> Plan:
    shape = _single(rng)
    corner = next(c for c in CORNERS if (("right" in c) == (shape.cx >= SIZE // 2))
                  and (("bottom" in c) == (shape.cy >= SIZE // 2)))
    return Plan("Position", "Where in the picture is the shape?", [f"in the {c}" for c in CORNERS],
                f"in the {corner}", [shape], _distractor_clip(rng))


def _pitch(rng: np.random.Generator) -> Plan:
    contour = str(rng.choice(list(CONTOURS)))
    options = [text for _, _, text in CONTOURS.values()]
    return Plan("Pitch", "How does the pitch of the tone sound?", options, CONTOURS[contour][2],
                _scene(rng, int(rng.integers(1, 4))), Clip("tone", contour=contour))


def _beeps(rng: np.random.Generator) -> Plan:
    n = int(rng.integers(1, 7))
    options, answer = _numbers(rng, n, 1, 9)
    return Plan("Beep Count", "How many beeps are in the sound clip?", options, answer,
                _scene(rng, int(rng.integers(1, 4))), Clip("beeps", beeps=n))


def _sound_type(rng: np.random.Generator) -> Plan:
    kind = str(rng.choice(list(SOUND_KINDS)))
    clip = Clip(kind, contour=str(rng.choice(["high", "low"])), beeps=int(rng.integers(3, 6)) if kind == "beeps" else 0,
                text=str(rng.choice(WORDS)) if kind == "speech" else "", voice=_voice(rng))
    return Plan("Sound Type", "What does the sound clip contain?", list(SOUND_KINDS.values()), SOUND_KINDS[kind],
                _scene(rng, int(rng.integers(1, 4))), clip)


def _word(rng: np.random.Generator) -> Plan:
    options = [str(w) for w in rng.choice(WORDS, 4, replace=False)]
    return Plan("Spoken Word", "Which word does the speaker say?", options, options[0],
                _scene(rng, int(rng.integers(1, 4))), Clip("speech", text=options[0], voice=_voice(rng)))


def _av_count(rng: np.random.Generator) -> Plan:
    shapes, beeps = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    options, answer = _numbers(rng, shapes + beeps, 1, 10)
    return Plan("Audio-Visual Count", "How many shapes in the picture and beeps in the sound clip are there "
                "together?", options, answer, _scene(rng, shapes), Clip("beeps", beeps=beeps))


def _av_match(rng: np.random.Generator) -> Plan:
    kinds = [str(k) for k in rng.choice(SHAPES, 4, replace=False)]
    colours = [str(c) for c in rng.choice(list(COLOURS), 4, replace=False)]
    j = int(rng.integers(4))
    return Plan("Audio-Visual Match", "The speaker names a colour. Which shape in the picture has that colour?",
                list(kinds), kinds[j], _scene(rng, 4, kinds, colours),
                Clip("speech", text=colours[j], voice=_voice(rng)))


TASKS: dict[str, Callable[[np.random.Generator], Plan]] = {
    "Colour": _colour, "Shape": _shape, "Object Count": _count, "Position": _position, "Pitch": _pitch,
    "Beep Count": _beeps, "Sound Type": _sound_type, "Spoken Word": _word, "Audio-Visual Count": _av_count,
    "Audio-Visual Match": _av_match,
}
"""Task type -> planner; item ``i`` has task type ``list(TASKS)[i % len(TASKS)]``."""


def plan(i: int, seed: int = 0) -> Plan:
    """The plan of item ``i``: task type by position, content and option order from ``(seed, i)``.

    >>> p = plan(0)
    >>> p.task_type, len(p.options), p.answer in p.options, len(set(p.options))
    ('Colour', 4, True, 4)
    >>> plan(3, seed=1) == plan(3, seed=1) and plan(3, seed=1) != plan(3, seed=2)
    True
    """
    rng = np.random.default_rng([seed, i])
    p = TASKS[list(TASKS)[i % len(TASKS)]](rng)
    p.options = [p.options[k] for k in rng.permutation(len(p.options))]
    return p


IMAGE_HEADS: dict[str, tuple[str, ...]] = {"colour": tuple(COLOURS), "shape": SHAPES, "count": NUMBERS[1:],
                                           "corner": CORNERS}
SOUND_HEADS: dict[str, tuple[str, ...]] = {"kind": tuple(SOUND_KINDS), "contour": tuple(CONTOURS),
                                           "beeps": NUMBERS[1:], "word": (*WORDS, *COLOURS)}
"""What a picture and a sound show, per attribute its classes: the targets a tower can be taught (:func:`attributes`)."""
NONE = -100
"""The class index of an attribute the item does not have (PyTorch's ``ignore_index``)."""


def attributes(p: Plan) -> dict[str, dict[str, int]]:
    """Per medium (``image``, ``sound``) and attribute of :data:`IMAGE_HEADS` / :data:`SOUND_HEADS`, the class index.

    The colour, shape and corner exist for a picture of one shape only; the contour for a tone, the beep
    count for beeps, the word for speech; an attribute the item lacks is :data:`NONE`.

    >>> a = attributes(plan(0))  # a Colour item: one shape, a distractor sound
    >>> a["image"]["count"], a["image"]["colour"] >= 0, a["image"]["corner"] >= 0
    (0, True, True)
    >>> b = attributes(plan(5))  # a Beep Count item
    >>> SOUND_HEADS["beeps"][b["sound"]["beeps"]] == plan(5).answer, b["sound"]["word"] == NONE
    (True, True)
    """
    one = p.shapes[0] if len(p.shapes) == 1 else None
    corner = None if one is None else \
        f"{'bottom' if one.cy >= SIZE // 2 else 'top'} {'right' if one.cx >= SIZE // 2 else 'left'}"
    image = {"colour": one.colour if one else None, "shape": one.kind if one else None,
             "count": NUMBERS[len(p.shapes)], "corner": corner}
    c = p.clip
    sound = {"kind": c.kind, "contour": c.contour if c.kind == "tone" else None,
             "beeps": NUMBERS[c.beeps] if c.kind == "beeps" else None, "word": c.text if c.kind == "speech" else None}
    return {medium: {k: heads[k].index(v) if v is not None else NONE for k, v in values.items()}
            for medium, heads, values in (("image", IMAGE_HEADS, image), ("sound", SOUND_HEADS, sound))}


# ---- rendering -------------------------------------------------------------------------------------------


def _polygon(s: Shape) -> list[tuple[float, float]]:
    """Vertices of a triangle, diamond or five-pointed star around the shape's centre."""
    if s.kind == "triangle":
        angles, radii = [90, 210, 330], [s.r] * 3
    elif s.kind == "diamond":
        angles, radii = [0, 90, 180, 270], [s.r] * 4
    else:  # star
        angles, radii = [90 + 36 * k for k in range(10)], [s.r if k % 2 == 0 else s.r * 0.45 for k in range(10)]
    return [(s.cx + r * np.cos(np.radians(a)), s.cy - r * np.sin(np.radians(a))) for a, r in zip(angles, radii)]


def render_image(shapes: list[Shape], path: Path) -> None:
    """Draw the shapes in flat colour (no anti-aliasing) on the canvas and save a PNG."""
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for s in shapes:
        fill, box = COLOURS[s.colour], (s.cx - s.r, s.cy - s.r, s.cx + s.r, s.cy + s.r)
        if s.kind == "circle":
            draw.ellipse(box, fill=fill)
        elif s.kind == "square":
            k = round(s.r * 0.85)
            draw.rectangle((s.cx - k, s.cy - k, s.cx + k, s.cy + k), fill=fill)
        else:
            draw.polygon(_polygon(s), fill=fill)
    image.save(path, format="PNG")


def _tone(f0: float, f1: float, seconds: float) -> np.ndarray:
    """A sine whose frequency glides geometrically from ``f0`` to ``f1`` Hz, with 10 ms fades."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    freq = f0 * (f1 / f0) ** (t / seconds)
    wave = 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE)
    fade = min(len(t) // 2, int(0.01 * SAMPLE_RATE))
    ramp = np.linspace(0.0, 1.0, fade)
    wave[:fade] *= ramp
    wave[len(wave) - fade:] *= ramp[::-1]
    return wave


def clip_wave(clip: Clip, rng: np.random.Generator) -> np.ndarray:
    """The samples of a tone, beep or noise clip at SAMPLE_RATE, with silence before and after."""
    gap = np.zeros(int(LEAD * SAMPLE_RATE))
    if clip.kind == "tone":
        f0, f1, _ = CONTOURS[clip.contour]
        body = _tone(f0, f1, 1.2)
    elif clip.kind == "beeps":
        pause = np.zeros(int(BEEP_OFF * SAMPLE_RATE))
        parts = [part for _ in range(clip.beeps) for part in (_tone(BEEP_HZ, BEEP_HZ, BEEP_ON), pause)]
        body = np.concatenate(parts[:-1])
    elif clip.kind == "noise":
        body = np.clip(rng.normal(0.0, 0.08, int(1.2 * SAMPLE_RATE)), -0.5, 0.5)
    else:
        raise ValueError(f"clip kind {clip.kind!r} is not rendered with numpy")
    return np.concatenate([gap, body, gap]).astype(np.float32)


def render_audio(clip: Clip, path: Path, rng: np.random.Generator) -> None:
    """Write the clip as a 16-bit WAV: numpy for tones, beeps and noise, espeak-ng for speech."""
    if clip.kind == "speech":
        cmd = [require("espeak-ng"), "-v", f"en-us+{clip.voice}", "-s", "140", "-w", str(path), clip.text]
        result = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if result.returncode != 0 or not path.is_file():
            raise RuntimeError(f"espeak-ng failed writing {path}: {result.stderr.strip() or result.returncode}")
        return
    sf.write(path, clip_wave(clip, rng), SAMPLE_RATE, subtype="PCM_16")


def _audio_content(clip: Clip) -> str:
    """A short description of the clip (OmniBench's ``audio content`` field)."""
    if clip.kind == "speech":
        return f"a voice says {clip.text!r}"
    if clip.kind == "beeps":
        return f"{clip.beeps} short beep{'s' if clip.beeps != 1 else ''} at {BEEP_HZ:.0f} Hz"
    if clip.kind == "tone":
        return CONTOURS[clip.contour][2]
    return "white noise"


def _image_content(shapes: list[Shape]) -> str:
    """A short description of the picture (OmniBench's ``image content`` field)."""
    return "; ".join(f"a {s.colour} {s.kind} at ({s.cx}, {s.cy})" for s in shapes)


def generate(root: str | Path, n: int, seed: int = 0) -> list[BenchItem]:
    """Write ``n`` SynthBench items (media and ``dataset/synthbench.jsonl``) under ``root``; return them.

    The items equal what :func:`emoomni.data.omnibench.index` reads back from ``root``. Rerunning with the
    same arguments rewrites identical files. A ``root/dataset`` already holding other item files is refused
    (the OmniBench index would not know which one to read).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    root = Path(root)
    others = [p for p in sorted((root / "dataset").glob("*.json*")) if p.name != Path(ITEMS_FILE).name]
    if others:
        names = ", ".join(p.name for p in others)
        raise FileExistsError(f"{root / 'dataset'} already holds other item files ({names}); generate into an empty "
                              "folder")
    for kind in ("image", "audio"):
        (root / "mm_data" / kind).mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    items = []
    for i in range(n):
        p = plan(i, seed)
        image, audio = f"{i:04d}.png", f"{i:04d}.wav"
        render_image(p.shapes, root / "mm_data" / "image" / image)
        render_audio(p.clip, root / "mm_data" / "audio" / audio, np.random.default_rng([seed, i, 1]))
        record = {"index": i, "task type": p.task_type, "audio type": "speech" if p.clip.kind == "speech"
                  else "sound event", "question": p.question, "options": p.options, "answer": p.answer,
                  "image_path": image, "audio_path": audio, "image content": _image_content(p.shapes),
                  "audio content": _audio_content(p.clip)}
        records.append(record)
        items.append(BenchItem(
            id=f"omnibench-{i}", task_type=p.task_type, question=p.question, options=tuple(p.options),
            answer=p.answer, answer_index=p.options.index(p.answer), image=f"mm_data/image/{image}",
            audio=f"mm_data/audio/{audio}", audio_type=record["audio type"],
            meta={"index": i, "source": Path(ITEMS_FILE).name, "image_content": record["image content"],
                  "audio_content": record["audio content"]}))
    write_lines((json.dumps(r, ensure_ascii=False, sort_keys=True) for r in records), root / ITEMS_FILE)
    return items
