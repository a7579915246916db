"""Tiny generated media for adapter fixture trees: clips with and without audio, wavs, corrupt files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf


def make_clip(path: Path, audio: bool = True, seconds: float = 0.5, size: int = 32) -> Path:
    """Write a tiny mp4 (or avi, by suffix) test clip with ffmpeg, with or without an audio track."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}x{size}:rate=8:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={seconds}"]
    cmd += ["-pix_fmt", "yuv420p", "-shortest", str(path)]
    subprocess.run(cmd, check=True)
    return path


def make_wav(path: Path, seconds: float = 0.3, rate: int = 16000) -> Path:
    """Write a short sine wav."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.1 * np.sin(2 * np.pi * 220 * t), rate)
    return path


def make_corrupt(path: Path) -> Path:
    """Write a file with a media suffix whose bytes are not media."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x01 this is not a video " * 40)
    return path
