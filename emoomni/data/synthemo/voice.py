"""Speech synthesised with espeak-ng whose prosody carries a vocal emotion.

Each vocal emotion sets pitch level, pitch range, speaking rate and loudness; a speaker (an
espeak-ng voice variant with its own pitch offset) varies per clip. ``neutral`` is the flat voice.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf


@dataclass(frozen=True)
class Prosody:
    """espeak-ng settings: base pitch (0-99), pitch range (0-99), words per minute, amplitude (<= 150)."""

    pitch: int
    range: int
    rate: int
    amplitude: int


PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(pitch=40, range=30, rate=170, amplitude=80),
    "happy": Prosody(pitch=66, range=90, rate=195, amplitude=100),
    "sad": Prosody(pitch=20, range=10, rate=140, amplitude=45),
    "angry": Prosody(pitch=40, range=45, rate=240, amplitude=150),
    "worried": Prosody(pitch=62, range=12, rate=210, amplitude=60),
    "surprised": Prosody(pitch=95, range=99, rate=155, amplitude=130),
}

VOICES = ("m1", "m2", "m3", "m7", "f1", "f2", "f3", "f4")


class ToolMissingError(RuntimeError):
    """A program the generator needs is not installed."""


def require(program: str) -> str:
    """The path of an installed program, or a clear error saying how to install it."""
    path = shutil.which(program)
    if path is None:
        raise ToolMissingError(
            f"{program} is not installed or not on PATH; install it with `apt-get install {program}` "
            "(scripts/setup.sh does this)"
        )
    return path


def synthesize(text: str, emotion: str, voice: str, pitch_offset: int, wav_path: str, rate_scale: float = 1.0) -> float:
    """Write a wav of ``text`` spoken with the prosody of ``emotion`` by the given speaker; returns seconds."""
    p = PROSODY[emotion]
    ssml = f'<speak><prosody range="{p.range}">{escape(text)}</prosody></speak>'
    pitch = int(np.clip(p.pitch + pitch_offset, 0, 99))
    cmd = [require("espeak-ng"), "-m", "-v", f"en-us+{voice}", "-p", str(pitch), "-s", str(round(p.rate * rate_scale)),
           "-a", str(p.amplitude), "-w", wav_path, ssml]
    subprocess.run(cmd, check=True, capture_output=True)
    info = sf.info(wav_path)
    return info.frames / info.samplerate


def synthesize_fitting(text: str, emotion: str, voice: str, pitch_offset: int, wav_path: str,
                       max_seconds: float) -> tuple[float, float]:
    """Synthesise as :func:`synthesize`, speeding the speaker up just enough to fit ``max_seconds``.

    Returns the speech length and the rate factor used (1.0 when the sentence fitted as spoken).
    """
    seconds = synthesize(text, emotion, voice, pitch_offset, wav_path)
    if seconds <= max_seconds:
        return seconds, 1.0
    scale = seconds / max_seconds * 1.05
    return synthesize(text, emotion, voice, pitch_offset, wav_path, scale), scale
