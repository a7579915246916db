"""Probing and reading media files with clear errors that name the file and the problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


class MediaError(ValueError):
    """A media file is missing, unreadable or lacks the stream that was asked for."""


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds: stream presence, duration in seconds, frame size and audio rate."""

    has_video: bool
    has_audio: bool
    duration: float | None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None


def probe(path: str | Path) -> MediaInfo:
    """Open a media file with FFmpeg (PyAV) and report its streams; raise MediaError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty")
    try:
        with av.open(str(path)) as container:
            v = container.streams.video[0] if container.streams.video else None
            a = container.streams.audio[0] if container.streams.audio else None
            if v is None and a is None:
                raise MediaError(f"{path}: no audio or video stream")
            duration = container.duration / 1e6 if container.duration else None
            if v is not None:
                next(container.decode(video=0))
            elif a is not None:
                next(container.decode(audio=0))
            return MediaInfo(
                has_video=v is not None,
                has_audio=a is not None,
                duration=duration,
                width=v.codec_context.width if v is not None else None,
                height=v.codec_context.height if v is not None else None,
                sample_rate=a.codec_context.sample_rate if a is not None else None,
            )
    except MediaError:
        raise
    except StopIteration:
        raise MediaError(f"{path}: no decodable frames") from None
    except (av.error.FFmpegError, UnicodeDecodeError, IndexError) as e:
        raise MediaError(f"{path}: corrupt or unreadable media ({type(e).__name__}: {e})") from None


def read_frames(path: str | Path) -> np.ndarray:
    """Decode every video frame as RGB, shape (frames, height, width, 3), uint8."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except av.error.FFmpegError as e:
        raise MediaError(f"{path}: corrupt or unreadable media ({type(e).__name__}: {e})") from None
    if not frames:
        raise MediaError(f"{path}: no decodable frames")
    return np.stack(frames)


def read_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode the first audio stream as mono float32 at ``sample_rate``."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks = []
            for frame in container.decode(audio=0):
                chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    except av.error.FFmpegError as e:
        raise MediaError(f"{path}: corrupt or unreadable media ({type(e).__name__}: {e})") from None
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
