"""Turning a batch of chat message lists into Qwen2.5-Omni thinker inputs, offline.

Media are decoded here, not by ``qwen_omni_utils`` or the processor's own loaders: video frames with
:func:`emoomni.media.read_frames` (PyAV), sampled to ``fps``; audio with :func:`emoomni.media.read_audio`
at 16 kHz, from the audio file or, for audio-in-video, from the video's own track. The decoded audio
is handed to the processor one entry per audio slot with ``audio_from_video_indices``, so the
processor never decodes anything itself (no torchcodec, no network).

Audio-in-video is a per-video choice in the messages (``"audio_in_video": True`` on the video item,
set by :func:`emoomni.model.chat.chat_messages`), but the model's 3D rotary positions take one
``use_audio_in_video`` flag per batch. A batch that mixes interleaved and plain videos therefore gets
its ``position_ids`` computed here, sample by sample, with the model's own ``get_rope_index``; every
other batch leaves them to the model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import accumulate
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from emoomni.media import DECODED, MediaError, file_key, read_audio, read_frames

SAMPLE_RATE = 16000


def _clean(messages: Sequence[dict]) -> list[dict]:
    """Copy the messages, dropping None-valued keys (Hugging Face ``datasets`` adds them to every item)."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = [{k: v for k, v in item.items() if v is not None} for item in content]
        out.append({k: v for k, v in {**m, "content": content}.items() if v is not None})
    return out


def _native_fps(path: str) -> float | None:
    """The video stream's average frame rate, or None when the container does not say."""
    import av

    with av.open(path) as container:
        rate = container.streams.video[0].average_rate if container.streams.video else None
    return float(rate) if rate else None


def sample_frames(frames: np.ndarray, native_fps: float | None, fps: float, factor: int = 2,
                  max_frames: int = 768, min_frames: int = 4) -> np.ndarray:
    """Pick frames evenly at about ``fps`` as ``qwen-omni-utils`` (``smart_nframes``) does for the 7B.

    ``seconds * fps`` frames, at least ``min_frames`` and at most ``max_frames`` and the clip's own,
    rounded down to a multiple of ``factor``; a clip of fewer than ``factor`` frames repeats them.

    >>> sample_frames(np.zeros((8, 2, 2, 3)), 4.0, 4.0).shape[0]
    8
    >>> sample_frames(np.zeros((50, 2, 2, 3)), 25.0, 4.0).shape[0]
    8
    >>> [sample_frames(np.zeros((n, 2, 2, 3)), 25.0, 2.0).shape[0] for n in (25, 70, 75)]
    [4, 4, 6]
    >>> sample_frames(np.zeros((1, 2, 2, 3)), 25.0, 4.0).shape[0]
    2
    """
    n = len(frames)
    want = n / native_fps * fps if native_fps else n
    k = min(max(want, min_frames), max_frames, n)
    k = max(factor, int(k // factor) * factor)
    idx = np.linspace(0, n - 1, k).round().astype(int)
    return frames[idx]


def load_video(path: str, fps: float, factor: int = 2) -> np.ndarray:
    """Decode a video's frames, (frames, height, width, 3) uint8, sampled at about ``fps`` (kept in :data:`DECODED`)."""
    return DECODED.get(file_key(path, "video", fps, factor),
                       lambda: sample_frames(read_frames(path), _native_fps(path), fps, factor))


def load_audio(path: str) -> np.ndarray:
    """Decode a file's first audio stream as mono float32 at 16 kHz (kept in :data:`DECODED`)."""
    return DECODED.get(file_key(path, "audio", SAMPLE_RATE), lambda: _audio(path))


def _audio(path: str) -> np.ndarray:
    """The decoded audio of :func:`load_audio`, refused when it holds no samples."""
    wav = read_audio(path, SAMPLE_RATE)
    if wav.size == 0:
        raise MediaError(f"{path}: the audio stream decodes to no samples")
    return wav


def video_size(processor: Any, size: int | dict | None) -> dict:
    """The video processor's size (min / max pixels per frame) from an edge length, a dict, or None (its own)."""
    if size is None:
        return dict(processor.video_processor.size)
    if isinstance(size, dict):
        return dict(size)
    vp = processor.video_processor
    unit = (vp.patch_size * vp.merge_size) ** 2
    return {"shortest_edge": min(unit, size * size), "longest_edge": size * size}


def _rope_index(processor: Any) -> Any:
    """A stand-in carrying what the thinker's ``get_rope_index`` reads, built from the processor."""
    from transformers.models.qwen2_5_omni import modeling_qwen2_5_omni as m

    base = m.Qwen2_5OmniPreTrainedModelForConditionalGeneration
    tok = processor.tokenizer
    tid = tok.convert_tokens_to_ids
    config = SimpleNamespace(
        image_token_id=processor.image_token_id, video_token_id=processor.video_token_id,
        audio_token_id=processor.audio_token_id, vision_start_token_id=tid(processor.vision_bos_token),
        audio_start_token_id=tid(processor.audio_bos_token),
        position_id_per_seconds=processor.position_id_per_seconds, seconds_per_chunk=processor.seconds_per_chunk)
    stub = type("RopeIndex", (), {"get_rope_index": base.get_rope_index,
                                  "get_llm_pos_ids_for_vision": base.get_llm_pos_ids_for_vision,
                                  "get_chunked_index": base.get_chunked_index})()
    stub.config, stub.spatial_merge_size = config, processor.video_processor.merge_size
    return stub


def _per_sample_positions(processor: Any, inputs: Any, spans: list[dict]) -> torch.Tensor:
    """3D rotary positions computed sample by sample, each with its own audio-in-video flag."""
    rope = _rope_index(processor)
    audio_lens = inputs["feature_attention_mask"].sum(-1) if "feature_attention_mask" in inputs else None
    rows = []
    for i, sp in enumerate(spans):
        v, a, im = slice(*sp["videos"]), slice(*sp["audios"]), slice(*sp["images"])
        grid_v = inputs["video_grid_thw"][v] if sp["videos"][1] > sp["videos"][0] else None
        grid_i = inputs["image_grid_thw"][im] if sp["images"][1] > sp["images"][0] else None
        spg = inputs["video_second_per_grid"][v] if grid_v is not None else None
        pos, _ = rope.get_rope_index(inputs["input_ids"][i:i + 1], grid_i, grid_v, inputs["attention_mask"][i:i + 1],
                                     sp["aiv"], audio_lens[a] if audio_lens is not None else None, spg)
        rows.append(pos)
    return torch.cat(rows, dim=1)


def _audio_pad_length(processor: Any, audios: Sequence[Any]) -> int:
    """Samples to pad the batch's audio to: the longest clip rounded up to whole seconds, at most the window.

    The processor pads every clip to Whisper's 30 s window by default; the encoder reads only the
    frames ``feature_attention_mask`` marks, so padding to the batch's longest clip gives the same
    features and outputs (a test checks) at a fraction of the cost for short clips.
    """
    fe = processor.feature_extractor
    longest = max(len(a) for a in audios)
    return min(-(-longest // fe.sampling_rate) * fe.sampling_rate, fe.n_samples)


def omni_inputs(processor: Any, batch_messages: Sequence[Sequence[dict]], add_generation_prompt: bool,
                fps: float = 4.0, size: int | dict | None = 112, padding_side: str = "left") -> Any:
    """Model inputs for a batch of chats: ids, masks, video pixels and grids, audio features, audio-in-video.

    ``fps`` is the frame sampling rate, ``size`` the largest frame edge (frames are resized to at most
    ``size * size`` pixels, aspect kept), a video processor ``size`` dict, or None for the processor's own saved
    bounds (the 7B's: 128 to 768 merged 28-pixel patches a frame pair); both go to the
    processor on every call (its class defaults would otherwise override the saved config). Padding is
    on the left by default, as generation needs. Returns a ``BatchFeature`` with ``input_ids``,
    ``attention_mask``, ``pixel_values_videos``, ``video_grid_thw``, ``video_second_per_grid``,
    ``input_features``, ``feature_attention_mask`` (those present) and ``use_audio_in_video``, plus
    ``position_ids`` when the batch mixes audio-in-video clips with plain videos. Audio features are
    padded to the batch's longest clip (whole seconds, at most Whisper's 30 s window), not always to 30 s.
    """
    from PIL import Image

    factor = processor.video_processor.temporal_patch_size
    texts, images, videos, audios, slots, spans = [], [], [], [], [], []
    for messages in batch_messages:
        messages = _clean(messages)
        texts.append(processor.apply_chat_template(messages, tokenize=False,
                                                   add_generation_prompt=add_generation_prompt))
        start = {"videos": len(videos), "audios": len(audios), "images": len(images)}
        aiv = plain = False
        for m in messages:
            if not isinstance(m.get("content"), list):
                continue
            for item in m["content"]:
                kind = item["type"]
                if kind == "video":
                    path = str(item["video"])
                    videos.append(load_video(path, fps, factor))
                    if item.get("audio_in_video"):
                        audios.append(load_audio(path))
                        slots.append(len(videos) - 1)
                        aiv = True
                    else:
                        plain = True
                elif kind == "audio":
                    audios.append(load_audio(str(item["audio"])))
                    slots.append(None)
                elif kind == "image":
                    img = item["image"]
                    images.append(img if isinstance(img, Image.Image) else Image.open(img).convert("RGB"))
        if aiv and plain:
            raise ValueError("one conversation mixes an audio-in-video clip with a plain video; the model's "
                             "rotary positions take one audio-in-video flag per sequence")
        spans.append({k: (start[k], n) for k, n in (("videos", len(videos)), ("audios", len(audios)),
                                                     ("images", len(images)))} | {"aiv": aiv, "plain": plain})
    any_aiv = any(s["aiv"] for s in spans)
    kwargs: dict[str, Any] = {}
    if any_aiv:
        kwargs = {"load_audio_from_video": True, "audio_from_video_indices": slots}
    if audios:
        kwargs["audio_kwargs"] = {"max_length": _audio_pad_length(processor, audios)}
    with warnings.catch_warnings():  # transformers' own np.arange over a tensor; harmless
        warnings.filterwarnings("ignore", "__array__ implementation doesn't accept a copy", DeprecationWarning)
        inputs = processor(text=texts, images=images or None, videos=videos or None, audio=audios or None,
                           videos_kwargs={"size": video_size(processor, size), "fps": fps, "do_sample_frames": False,
                                          "cap_pixels_per_frame": True},
                           padding=True, padding_side=padding_side, return_tensors="pt", **kwargs)
    if "video_second_per_grid" in inputs:
        inputs["video_second_per_grid"] = torch.as_tensor(inputs["video_second_per_grid"], dtype=torch.float32)
    if any_aiv and any(s["plain"] for s in spans):
        inputs["position_ids"] = _per_sample_positions(processor, inputs, spans)
    inputs["use_audio_in_video"] = any_aiv
    return inputs


def _media_counts(config: Any, row: Sequence[int]) -> tuple[int, int, int]:
    """Videos, images and audio tracks in one row of prompt ids (an audio-in-video clip counts in both).

    >>> from types import SimpleNamespace as NS
    >>> c = NS(vision_start_token_id=1, audio_start_token_id=2, video_token_index=3, image_token_index=4)
    >>> _media_counts(c, [0, 1, 2, 3, 3, 9, 1, 4, 0, 2, 9])
    (1, 1, 2)
    """
    videos = images = 0
    for k, t in enumerate(row):
        if t == config.vision_start_token_id:
            kind = next((u for u in row[k + 1:] if u != config.audio_start_token_id), None)
            videos += kind == config.video_token_index
            images += kind == config.image_token_index
    return videos, images, row.count(config.audio_start_token_id)


def select_rows(config: Any, inputs: Any, rows: Sequence[int]) -> dict[str, Any]:
    """The prompt inputs of ``rows`` alone, from a batch made by :func:`omni_inputs`: their ids and masks with the
    left padding no chosen row needs removed, and their own video frames, images and audio features.

    ``config`` is the thinker's (its token ids tell each row's media apart). The model reads the chosen rows
    exactly as it reads them in the whole batch; audio features keep the batch's padded length, which
    their mask hides.
    """
    ids, rows = inputs["input_ids"], list(rows)
    counts = [_media_counts(config, r) for r in ids.tolist()]
    starts = [[0, *accumulate(c[kind] for c in counts)] for kind in range(3)]  # each row's first item, per kind

    def owned(kind: int) -> list[int]:
        return [i for r in rows for i in range(starts[kind][r], starts[kind][r + 1])]

    width = int(inputs["attention_mask"][rows].sum(1).max()) if rows else 0
    out: dict[str, Any] = {"input_ids": ids[rows, ids.shape[1] - width:],
                           "attention_mask": inputs["attention_mask"][rows, ids.shape[1] - width:]}
    if inputs.get("position_ids") is not None:
        out["position_ids"] = inputs["position_ids"][:, rows, ids.shape[1] - width:]
    for kind, grid, pixels, per_item in ((0, "video_grid_thw", "pixel_values_videos", ("video_second_per_grid",)),
                                         (1, "image_grid_thw", "pixel_values", ())):
        if grid in inputs:
            ends = [0, *inputs[grid].prod(-1).cumsum(0).tolist()]
            items = owned(kind)
            out[pixels] = torch.cat([inputs[pixels][ends[i]:ends[i + 1]] for i in items] or [inputs[pixels][:0]])
            out[grid] = inputs[grid][items]
            out.update({k: inputs[k][items] for k in per_item if k in inputs})
    if "input_features" in inputs:
        tracks = owned(2)
        out["input_features"] = inputs["input_features"][tracks]
        out["feature_attention_mask"] = inputs["feature_attention_mask"][tracks]
    unknown = [k for k, v in inputs.items() if k not in out and isinstance(v, torch.Tensor)]
    if unknown:
        raise ValueError(f"select_rows does not know how to split {unknown}")
    out.update({k: v for k, v in inputs.items() if k not in out})
    return out


def assistant_labels(processor: Any, input_ids: torch.Tensor) -> torch.Tensor:
    """Labels for the last assistant turn only: its tokens up to and including ``<|im_end|>``; -100 elsewhere."""
    tok = processor.tokenizer
    prefix = tok.encode("<|im_start|>assistant\n", add_special_tokens=False)
    end = tok.convert_tokens_to_ids("<|im_end|>")
    labels = torch.full_like(input_ids, -100)
    for i, row in enumerate(input_ids.tolist()):
        starts = [j + len(prefix) for j in range(len(row) - len(prefix) + 1) if row[j:j + len(prefix)] == prefix]
        if not starts:
            raise ValueError(f"row {i} has no assistant turn")
        s = starts[-1]
        e = next((j for j in range(s, len(row)) if row[j] == end), len(row) - 1)
        labels[i, s:e + 1] = input_ids[i, s:e + 1]
    return labels


def reply_log_probs(model: Any, processor: Any, chats: list[list[dict]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per chat, the summed log-probability of its last assistant turn (:func:`assistant_labels`) and its token count."""
    inputs = omni_inputs(processor, chats, add_generation_prompt=False, padding_side="right")
    inputs = inputs.to(next(model.parameters()).device)
    labels = assistant_labels(processor, inputs["input_ids"])[:, 1:]
    labels[inputs["attention_mask"][:, 1:] == 0] = -100
    with torch.no_grad():
        logits = model(**inputs).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]
    kept = labels != -100
    return (logp * kept).sum(-1).cpu(), kept.sum(-1).cpu()
