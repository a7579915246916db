"""Qwen2.5-Omni-7B's shapes as data: its thinker configuration, its processor settings, and the arithmetic on them.

The released configuration lives in ``emoomni/resources/qwen2_5_omni_7b_thinker.json`` and the processor
settings (the released ``preprocessor_config.json`` and the video sampling of ``qwen-omni-utils``) in
``qwen2_5_omni_7b_processor.json``, each with a ``source`` field naming where the values come from. This
module reads them and computes, without torch, what a clip costs the 7B: how many frames and merged
patches its video becomes, how many audio tokens its sound becomes, and how many parameters and
floating-point operations each tower has. :mod:`emoomni.paper_plan` builds the costed plan on these
numbers; :mod:`emoomni.model.paper_thinker` builds the model from the same file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

THINKER_FILE = "qwen2_5_omni_7b_thinker.json"
PROCESSOR_FILE = "qwen2_5_omni_7b_processor.json"


@cache
def _resource(name: str) -> dict:
    return json.loads(resources.files("emoomni.resources").joinpath(name).read_text())


def thinker_spec() -> dict:
    """The 7B thinker's configuration (``thinker``, ``text_config``, ``vision_config``, ``audio_config``, ``tokens``)."""
    return json.loads(json.dumps(_resource(THINKER_FILE)))


def processor_spec() -> dict:
    """The 7B's processor settings (``preprocessor_config``, ``qwen_omni_utils``, ``processor``)."""
    return json.loads(json.dumps(_resource(PROCESSOR_FILE)))


def _round(x: float, f: int) -> int:
    return round(x / f) * f


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Frame size after ``qwen-omni-utils``' resize: multiples of ``factor``, pixels within the bounds, aspect kept.

    >>> smart_resize(720, 1280, 28, 128 * 28 * 28, 768 * 28 * 28)
    (560, 1008)
    >>> smart_resize(240, 320, 28, 128 * 28 * 28, 768 * 28 * 28)
    (280, 392)
    """
    h = max(factor, _round(height, factor))
    w = max(factor, _round(width, factor))
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h, w = math.floor(height / beta / factor) * factor, math.floor(width / beta / factor) * factor
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h, w = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h, w


@dataclass(frozen=True)
class ClipShape:
    """What one clip becomes for the 7B: sampled frames, frame size, merged video tokens and audio tokens."""

    seconds: float
    frames: int
    height: int
    width: int
    video_tokens: int
    audio_tokens: int

    @property
    def tokens_per_frame_pair(self) -> int:
        """Merged patches per temporal patch (two frames)."""
        return self.height * self.width // (28 * 28)


def sampled_frames(seconds: float, native_fps: float, spec: dict | None = None) -> int:
    """Frames ``qwen-omni-utils`` samples from a clip: ``fps`` (2) per second, at least 4, a multiple of 2.

    >>> sampled_frames(3.0, 25.0), sampled_frames(12.0, 25.0), sampled_frames(40.0, 25.0)
    (6, 24, 80)
    """
    q = (spec or processor_spec())["qwen_omni_utils"]
    total = max(1, round(seconds * native_fps))
    n = total / native_fps * q["fps"]
    n = min(max(n, q["fps_min_frames"]), q["fps_max_frames"], total)
    return max(q["frame_factor"], math.floor(n / q["frame_factor"]) * q["frame_factor"])


def audio_tokens(seconds: float, spec: dict | None = None) -> int:
    """Audio tokens for ``seconds`` of sound: 25 a second, up to the feature extractor's window (300 s for the 7B).

    >>> audio_tokens(3.0), audio_tokens(40.0), audio_tokens(400.0)
    (75, 1000, 7500)
    """
    pc = (spec or processor_spec())["preprocessor_config"]
    samples = min(round(seconds * pc["sampling_rate"]), pc["n_samples"])
    frames = min(math.ceil(samples / pc["hop_length"]), pc["nb_max_frames"])
    after_conv = (frames - 1) // 2 + 1
    return (after_conv - 2) // 2 + 1


def clip_shape(seconds: float, height: int, width: int, native_fps: float = 25.0, spec: dict | None = None) -> ClipShape:
    """The 7B's view of a ``height`` x ``width`` clip of ``seconds`` (video read as ``qwen-omni-utils`` reads it).

    >>> s = clip_shape(40.0, 720, 1280)
    >>> (s.frames, s.height, s.width, s.video_tokens, s.audio_tokens)
    (80, 560, 1008, 28800, 1000)
    """
    spec = spec or processor_spec()
    q, pc = spec["qwen_omni_utils"], spec["preprocessor_config"]
    factor = pc["patch_size"] * pc["merge_size"]
    frames = sampled_frames(seconds, native_fps, spec)
    min_pixels = q["video_min_token_num"] * factor * factor
    total = q["model_seq_len"] * factor * factor * q["total_pixels_fraction"]
    max_pixels = max(min(q["video_max_token_num"] * factor * factor, total / frames * q["frame_factor"]),
                     int(min_pixels * 1.05))
    h, w = smart_resize(height, width, factor, min_pixels, int(max_pixels))
    grids = frames // pc["temporal_patch_size"]
    return ClipShape(seconds, frames, h, w, grids * (h // factor) * (w // factor), audio_tokens(seconds, spec))


def parameter_counts(spec: dict | None = None, depth: int | None = None) -> dict[str, int]:
    """Parameters per part of the thinker (``depth`` layers per tower and in the language model; None: released).

    Counted from the shapes of transformers' modules (Qwen2 attention with q/k/v biases, SwiGLU MLPs,
    Qwen2.5-VL vision blocks and merger, Whisper-style audio layers); a test checks the sum against a
    model built on the meta device.

    >>> c = parameter_counts()
    >>> c["language_model_layer"], c["embed_tokens"], c["vision_block"], c["audio_layer"]
    (233057792, 544997376, 19702200, 19676160)
    >>> round(sum(v for k, v in c.items() if not k.endswith("_layer") and not k.endswith("_block")) / 1e9, 3)
    8.932
    """
    spec = spec or thinker_spec()
    t, v, a = spec["text_config"], spec["vision_config"], spec["audio_config"]
    h, i, vocab = t["hidden_size"], t["intermediate_size"], t["vocab_size"]
    kv = t["num_key_value_heads"] * (h // t["num_attention_heads"])
    lm_layer = (h * h + h) + 2 * (h * kv + kv) + h * h + 3 * h * i + 2 * h
    vh, vi = v["hidden_size"], v["intermediate_size"]
    vblock = (vh * 3 * vh + 3 * vh) + (vh * vh + vh) + 2 * (vh * vi + vi) + (vi * vh + vh) + 2 * vh
    merged = vh * v["spatial_merge_size"] ** 2
    merger = vh + (merged * merged + merged) + (merged * v["out_hidden_size"] + v["out_hidden_size"])
    patch = v["in_channels"] * v["temporal_patch_size"] * v["patch_size"] ** 2 * vh
    d, f = a["d_model"], a["encoder_ffn_dim"]
    alayer = 4 * d * d + 3 * d + 2 * 2 * d + (d * f + f) + (f * d + d)
    aconv = a["num_mel_bins"] * d * 3 + d + d * d * 3 + d
    aout = 2 * d + d * a["output_dim"] + a["output_dim"] + 2 * a["output_dim"]
    nl = t["num_hidden_layers"] if depth is None else depth
    nv = v["depth"] if depth is None else depth
    na = a["encoder_layers"] if depth is None else depth
    return {"language_model_layer": lm_layer, "vision_block": vblock, "audio_layer": alayer,
            "embed_tokens": vocab * h, "lm_head": vocab * h, "language_model": nl * lm_layer + h,
            "vision": nv * vblock + patch + merger, "audio": na * alayer + aconv + aout}


def lora_parameters(rank: int, spec: dict | None = None) -> int:
    """LoRA parameters on every linear of the language model (q, k, v, o, gate, up, down) at ``rank``.

    >>> lora_parameters(8)
    20185088
    """
    t = (spec or thinker_spec())["text_config"]
    h, i = t["hidden_size"], t["intermediate_size"]
    kv = t["num_key_value_heads"] * (h // t["num_attention_heads"])
    shapes = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]
    return t["num_hidden_layers"] * sum(rank * (a + b) for a, b in shapes)
