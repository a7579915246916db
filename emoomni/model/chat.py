"""Formatting a Sample as Qwen2.5-Omni chat messages: the one place that decides what the model sees."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from emoomni.data.manifest import Sample, resolve_media
from emoomni.media import probe
from emoomni.prompts import SYSTEM, delimit, instruction


@lru_cache(maxsize=4096)
def _has_audio_track(path: str, mtime_ns: int) -> bool:
    """Whether a video file carries an audio stream (probed once per file version)."""
    return probe(path).has_audio


def audio_in_video(sample: Sample, data_root: str | Path) -> bool:
    """Whether the sample's sound is its video's own audio track (read with audio-in-video interleaving).

    ``meta["audio_in_video"]``, when set, decides. Otherwise a separate ``Sample.audio`` file is the
    sample's sound (the video is then shown as frames only); without one, a probe of the video decides.

    >>> audio_in_video(Sample("a", "x", "test", video="v.mp4", meta={"audio_in_video": True}), "/data")
    True
    >>> audio_in_video(Sample("a", "x", "test", video="v.mp4", audio="a.wav"), "/data")
    False
    """
    if not sample.video:
        return False
    flag = sample.meta.get("audio_in_video")
    if flag is not None:
        return bool(flag)
    if sample.audio:
        return False
    path = resolve_media(data_root, sample.video)
    return _has_audio_track(str(path), path.stat().st_mtime_ns)


def chat_messages(sample: Sample, labels: Sequence[str], data_root: str | Path, system: str | None = SYSTEM,
                  assistant_text: str | None = None, include_transcript: bool = True) -> list[dict]:
    """The Qwen2.5-Omni chat for one sample: system prompt, user media + transcript + instruction, optional answer.

    User content, in order: the video (absolute path) when there is one, marked ``audio_in_video`` when its
    own audio track is the sound (see :func:`audio_in_video`); else-or-also the separate audio file (a
    video without its sound is shown as frames next to the audio); then one text item holding the
    transcript, delimited and escaped (when ``include_transcript`` and the sample has one), and the
    instruction from :func:`emoomni.prompts.instruction`. With ``assistant_text`` an assistant turn
    follows. Every content item is a dict with a ``type``; the chat template dispatches on it alone.

    >>> msgs = chat_messages(Sample("s1", "synthemo", "test", audio="a.wav", transcript="Hi <b>"), ["sad"], "/d")
    >>> [m["role"] for m in msgs], [c["type"] for c in msgs[1]["content"]]
    (['system', 'user'], ['audio', 'text'])
    >>> msgs[1]["content"][0]["audio"], msgs[1]["content"][1]["text"].splitlines()[1]
    ('/d/a.wav', 'Hi &lt;b&gt;')
    """
    if not sample.video and not sample.audio:
        raise ValueError(f"sample {sample.id!r} has neither video nor audio")
    content: list[dict] = []
    aiv = audio_in_video(sample, data_root)
    if sample.video:
        content.append({"type": "video", "video": str(resolve_media(data_root, sample.video)), "audio_in_video": aiv})
    if sample.audio and not aiv:
        content.append({"type": "audio", "audio": str(resolve_media(data_root, sample.audio))})
    text = instruction(sample.id, labels)
    if include_transcript and sample.transcript and sample.transcript.strip():
        text = delimit("transcript", sample.transcript.strip()) + "\n" + text
    content.append({"type": "text", "text": text})
    messages = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append({"role": "user", "content": content})
    if assistant_text is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": assistant_text}]})
    return messages
