"""Probing and reading media files with clear errors that name the file and the problem."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
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


class DecodedCache:
    """Decoded media kept in memory up to ``limit`` bytes, least recently used out first; callers get copies.

    A file's entry is keyed by its path, size and modification time and by how it was decoded, so an edited
    file is decoded again; a file that fails to decode is never cached (the error repeats).

    >>> import numpy as np
    >>> cache, calls = DecodedCache(limit=16), []
    >>> make = lambda: calls.append(1) or np.zeros(8, np.uint8)
    >>> a = cache.get(("a",), make); a[0] = 9; b = cache.get(("a",), make)
    >>> len(calls), int(b[0]), cache.bytes
    (1, 0, 8)
    >>> _ = cache.get(("b",), make), cache.get(("c",), make)  # 24 bytes > 16: "a" goes
    >>> sorted(k[0] for k in cache.entries), cache.bytes
    (['b', 'c'], 16)
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.bytes = limit, 0
        self.entries: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], np.ndarray]) -> np.ndarray:
        """A copy of the array cached under ``key``, made (and cached, when it fits) on a miss."""
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key].copy()
        value = make()
        if self.limit > 0 and value.nbytes <= self.limit:
            self.entries[key] = value.copy()
            self.bytes += value.nbytes
            while self.bytes > self.limit:
                self.bytes -= self.entries.popitem(last=False)[1].nbytes
        return value


DECODED = DecodedCache(int(float(os.environ.get("EMOOMNI_MEDIA_CACHE_MB", "1024")) * 2 ** 20))
"""The process's decoded media (:func:`emoomni.model.inputs.load_video`, ``load_audio``): training epochs and the
many prediction passes over the same clips decode each once. ``EMOOMNI_MEDIA_CACHE_MB`` sets its size (default
1024; 0 turns it off)."""


def file_key(path: str | Path, *how: Hashable) -> tuple:
    """A cache key for a file as it is now (path, size, modification time) and how it is decoded."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise MediaError(f"{path}: file not found or unreadable ({type(e).__name__})") from None
    return (str(path), st.st_size, st.st_mtime_ns, *how)
