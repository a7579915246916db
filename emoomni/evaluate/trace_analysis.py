"""Inspecting one trace: per-token entropy, the guided-token statistics and where each section attends.

:func:`trace_analysis` generates (or takes) one sample's trace and runs one teacher-forced forward pass
over ``prompt + trace`` with the language model's attention switched to the eager implementation,
which is the only one that yields attention weights (SDPA and flash attention return none; transformers
warns and returns an empty tuple). Per generated token it reads the entropy of the next-token
distribution that produced it and the probability of the chosen token, with the conventions of
:mod:`emoomni.model.guided_stats` (raw temperature-1 distribution; token ``c_j`` is generated from position
``T + j - 1``; guided tokens measured at their first occurrence before the first stop id). p* comes from
:func:`emoomni.model.guided_stats.answer_probs` (its own pass over the answer slot with the gold label).
:mod:`emoomni.report.trace_html` renders the result coloured by entropy, and
:mod:`emoomni.report.widgets` shows it per sample.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emoomni.data.manifest import Sample, resolve_media
from emoomni.evaluate.predict import generation_config
from emoomni.labels import LABEL_SETS, LabelSet, extract_answer, label_set
from emoomni.media import read_audio, read_frames
from emoomni.model import audio_in_video, chat_messages, decode, guided_token_ids, omni_inputs, placeholder_ids
from emoomni.model.guided_stats import answer_probs, stop_ids, teacher_forced_hidden, unwrap_thinker
from emoomni.omnicot import GUIDED_TOKENS, is_valid
from emoomni.train.rewards import modality_entropy_reward, modality_weights

SPANS = ("video", "audio", "text")
"""The input spans attention shares are reported over."""
TRACE = "trace"
"""Key class of the generated tokens themselves (attention to the trace so far)."""
ALL = "all"
"""The pseudo-section holding every generated token."""
THINK_END = "</think>"


@dataclass
class TraceAnalysis:
    """One sample's trace with its per-token statistics, guided-token statistics, attention shares and media.

    ``tokens``, ``token_ids``, ``entropy`` and ``prob`` run over the generated tokens, the stop token
    included when there is one; ``entropy[j]`` (nats) and ``prob[j]`` describe the distribution that
    generated token ``j``. ``guided`` maps each guided token (``'[vision]'`` ...) to ``{'index',
    'entropy', 'prob'}`` at its first occurrence, or None; ``weights`` holds w_m for vision and audio
    (None unless both were generated); ``p_star`` is the gold answer's probability (None without a gold
    label). ``sections`` maps each section present to its token span ``(start, end)``; ``attention``
    maps each section (and ``'all'``) to its shares over ``SPANS`` (see :func:`trace_analysis`);
    ``token_attention`` is ``(tokens, 4)``: each token's mean attention mass on video, audio, text and
    the trace (rows sum to 1). ``frames`` are a few frames (uint8, ``(k, h, w, 3)``), ``waveform`` the
    sound as signed peaks at ``waveform_rate`` points per second.
    """

    sample_id: str
    gold: str | None
    text: str
    answer: str | None
    valid_format: bool
    token_ids: list[int]
    tokens: list[str]
    entropy: np.ndarray
    prob: np.ndarray
    guided: dict[str, dict[str, float] | None]
    weights: dict[str, float] | None
    p_star: float | None
    r_mod: float
    sections: dict[str, tuple[int, int]]
    attention: dict[str, dict[str, float]]
    token_attention: np.ndarray
    span_sizes: dict[str, int]
    frames: np.ndarray
    waveform: np.ndarray
    waveform_rate: float
    audio_in_video: bool = False
    seconds: float = 0.0

    @property
    def stats(self) -> dict[str, dict[str, float] | None]:
        """H_m and p_m in the shape of :attr:`emoomni.evaluate.predict.Prediction.stats` (vision, audio)."""
        out = {}
        for m in ("vision", "audio"):
            g = self.guided.get(f"[{m}]")
            out[m] = None if g is None else {"entropy": g["entropy"], "prob": g["prob"]}
        return out


def _label_set(labels: str | LabelSet | Sequence[str]) -> LabelSet:
    """A label set from its name, itself, or class names (a registered set with those classes, else a new one)."""
    if isinstance(labels, (str, LabelSet)):
        return label_set(labels)
    names = tuple(labels)
    return next((ls for ls in LABEL_SETS.values() if ls.labels == names), LabelSet("custom", names))


@contextlib.contextmanager
def eager_text_attention(model: Any) -> Iterator[None]:
    """Run the language model with eager attention (the one that yields weights), restoring it afterwards.

    Only the text model is switched (``{'text_config': 'eager'}``); the vision and audio encoders keep
    their implementation. Raises a clear error when the model cannot switch.
    """
    thinker = unwrap_thinker(model)
    text_config = getattr(thinker.config, "text_config", thinker.config)
    before = text_config._attn_implementation
    if before == "eager":
        yield
        return
    key = "text_config" if text_config is not thinker.config else ""
    thinker.set_attn_implementation({key: "eager"} if key else "eager")
    if text_config._attn_implementation != "eager":
        raise RuntimeError(f"could not switch {type(thinker).__name__} to eager attention (still {before!r})")
    try:
        yield
    finally:
        thinker.set_attn_implementation({key: before} if key else before)


def key_classes(input_ids: Sequence[int], attention_mask: Sequence[int], video_id: int, audio_id: int) -> np.ndarray:
    """Each prompt position's span: 0 video placeholder, 1 audio placeholder, 2 other text, -1 padding.

    >>> key_classes([0, 7, 5, 5, 6, 6, 5, 9], [0, 1, 1, 1, 1, 1, 1, 1], video_id=5, audio_id=6).tolist()
    [-1, 2, 0, 0, 1, 1, 0, 2]
    """
    ids = np.asarray(input_ids)
    out = np.full(ids.shape, 2, dtype=np.int64)
    out[ids == video_id] = 0
    out[ids == audio_id] = 1
    out[np.asarray(attention_mask) == 0] = -1
    return out


def section_spans(ids: Sequence[int], guided_ids: Mapping[str, int], end: int) -> dict[str, tuple[int, int]]:
    """Token spans of the sections: from each guided token's first occurrence up to the next one, the last up to ``end``.

    Sections are ordered by position (whatever order the model wrote them in); a missing guided token
    has no section. ``end`` is where the think block closes (the trace length without one).

    >>> section_spans([1, 10, 2, 11, 3, 3, 12, 4, 13, 5, 9], {"[vision]": 10, "[audio]": 11, "[dialogue]": 12,
    ...               "[analysis]": 13}, end=10)
    {'vision': (1, 3), 'audio': (3, 6), 'dialogue': (6, 8), 'analysis': (8, 10)}
    >>> section_spans([11, 3, 10, 4], {"[vision]": 10, "[audio]": 11}, end=4)
    {'audio': (0, 2), 'vision': (2, 4)}
    """
    ids = list(ids)
    first = sorted((ids.index(tid), token.strip("[]")) for token, tid in guided_ids.items() if tid in ids)
    spans = {}
    for k, (start, name) in enumerate(first):
        stop = first[k + 1][0] if k + 1 < len(first) else (end if end > start else len(ids))
        spans[name] = (start, stop)
    return spans


def think_end(pieces: Sequence[str]) -> int:
    """Index of the first token holding a character of the first ``</think>`` (the token count without one).

    >>> think_end(["a", " b", "</", "think", ">", "\\n"])
    2
    >>> think_end(["a", "b"])
    2
    """
    text = "".join(pieces)
    pos = text.find(THINK_END)
    if pos < 0:
        return len(pieces)
    ends = np.cumsum([len(p) for p in pieces])
    return int(np.searchsorted(ends, pos, side="right"))


def peak_envelope(wave: np.ndarray, points: int) -> np.ndarray:
    """Downsample a waveform to at most ``points`` values, each its bin's sample of largest magnitude.

    >>> peak_envelope(np.array([0.1, -0.5, 0.2, 0.3, 0.0, -0.1], dtype=np.float32), 3).tolist()
    [-0.5, 0.30000001192092896, -0.10000000149011612]
    """
    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) <= points:
        return wave.copy()
    edges = np.linspace(0, len(wave), points + 1).astype(int)
    return np.array([wave[a:b][np.argmax(np.abs(wave[a:b]))] for a, b in itertools.pairwise(edges)],
                    dtype=np.float32)


def pick_frames(frames: np.ndarray, k: int) -> np.ndarray:
    """``k`` frames evenly spaced over the clip (all of them when there are fewer).

    >>> pick_frames(np.arange(10).reshape(10, 1, 1, 1), 3).ravel().tolist()
    [0, 4, 9]
    """
    if len(frames) <= k:
        return frames
    return frames[np.linspace(0, len(frames) - 1, k).round().astype(int)]


def _media(sample: Sample, data_root: str | Path, n_frames: int, max_edge: int, points: int
           ) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """A few downscaled frames, the sound's peak envelope and its rate, and whether the sound is the video's."""
    from PIL import Image

    frames = np.zeros((0, 1, 1, 3), dtype=np.uint8)
    if sample.video:
        picked = []
        for f in pick_frames(read_frames(resolve_media(data_root, sample.video)), n_frames):
            img = Image.fromarray(f)
            img.thumbnail((max_edge, max_edge))
            picked.append(np.asarray(img, dtype=np.uint8))
        frames = np.stack(picked)
    aiv = audio_in_video(sample, data_root)
    source = sample.video if aiv else sample.audio
    wave, rate = np.zeros(0, dtype=np.float32), 0.0
    if source:
        raw = read_audio(resolve_media(data_root, source), 16000)
        wave = peak_envelope(raw, points)
        rate = len(wave) / (len(raw) / 16000) if len(raw) else 0.0
    return frames, wave, rate, aiv


class _AttentionTally:
    """A forward hook on each attention module: mean (over heads) attention mass per key class, summed over layers."""

    def __init__(self, rows: slice, classes: torch.Tensor) -> None:
        self.rows = rows
        keep = (classes >= 0).unsqueeze(-1)
        self.onehot = torch.nn.functional.one_hot(classes.clamp(min=0), 4).float() * keep
        self.total: torch.Tensor | None = None
        self.layers = 0

    def __call__(self, module: Any, args: Any, output: Any) -> None:
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if weights is None:
            raise RuntimeError(f"{type(module).__name__} returned no attention weights; eager attention is needed")
        mass = (weights[0, :, self.rows, :].float() @ self.onehot.to(weights.device)).mean(0)  # (rows, 4)
        self.total = mass if self.total is None else self.total + mass
        self.layers += 1

    def mean(self) -> np.ndarray:
        """Per row, the attention mass on each class averaged over heads and layers."""
        if self.total is None:
            raise RuntimeError("no attention layer ran")
        return (self.total / self.layers).cpu().numpy()


def _attention_layers(model: Any) -> list[torch.nn.Module]:
    """The self-attention module of every decoder layer of the thinker's language model."""
    thinker = unwrap_thinker(model)
    backbone = getattr(thinker, thinker.base_model_prefix)
    lm = getattr(backbone, "language_model", backbone)
    return [layer.self_attn for layer in lm.layers]


def section_shares(token_attention: np.ndarray, spans: Mapping[str, tuple[int, int]]) -> dict[str, dict[str, float]]:
    """Each span's attention on video, audio and text as shares of its attention on the prompt (sum to 1).

    >>> ta = np.array([[0.2, 0.2, 0.1, 0.5], [0.0, 0.5, 0.5, 0.0]])
    >>> {k: round(v, 3) for k, v in section_shares(ta, {"vision": (0, 2)})["vision"].items()}
    {'video': 0.133, 'audio': 0.467, 'text': 0.4}
    """
    out = {}
    for name, (a, b) in spans.items():
        mass = token_attention[a:b, :3].sum(0)
        total = float(mass.sum())
        out[name] = {s: (float(m) / total if total > 0 else 0.0) for s, m in zip(SPANS, mass)}
    return out


def _completion(model: Any, processor: Any, inputs: Any, text: str | None, max_new_tokens: int,
                stops: set[int]) -> list[int]:
    """The generated (greedy) or given trace's ids, up to and including the first stop id."""
    tok = processor.tokenizer
    if text is None:
        gc = generation_config(model, processor, max_new_tokens, False, 1.0, 1.0, 0)
        with torch.no_grad():
            out = model.generate(**inputs, generation_config=gc)
        ids = out[0, inputs["input_ids"].shape[1]:].tolist()
    else:
        ids = tok.encode(text, add_special_tokens=False)
        held = sorted({tok.convert_ids_to_tokens(i) for i in ids if i in set(placeholder_ids(processor))})
        if held:
            raise ValueError(f"the text holds multimodal placeholder tokens {held}, which a trace cannot contain")
        if not any(i in stops for i in ids):
            ids.append(tok.convert_tokens_to_ids("<|im_end|>"))
    cut = next((j for j, t in enumerate(ids) if t in stops), None)
    ids = ids if cut is None else ids[:cut + 1]
    if not ids:
        raise ValueError("the trace is empty")
    return ids


def trace_analysis(model: Any, processor: Any, sample: Sample, data_root: str | Path,
                   labels: str | LabelSet | Sequence[str], text: str | None = None, max_new_tokens: int = 192,
                   *, fps: float = 4.0, size: int | dict = 112, include_transcript: bool = True, n_frames: int = 6,
                   frame_edge: int = 160, wave_points: int = 2000) -> TraceAnalysis:
    """Analyse one sample's trace: per-token entropy and probability, guided statistics, per-section attention.

    The trace is generated greedily (placeholder ids suppressed, as :func:`emoomni.evaluate.predict.predict`
    does) unless ``text`` is given; a given text is tokenised as it is and ``<|im_end|>`` appended.
    Everything up to the first stop id is kept, the stop token included. One teacher-forced forward pass
    over ``prompt + trace`` (eager attention in the language model, restored afterwards) gives every
    token's statistics and the attention weights of every layer and head; the per-layer weights are
    reduced as each layer runs (a forward hook), never all held at once.

    Entropy, probability, H_m, p_m and p* follow :mod:`emoomni.model.guided_stats`; w_m is
    :func:`emoomni.train.rewards.modality_weights` and ``r_mod`` R_mod (0 for an invalid trace).

    Attention: the input's key positions are split by id, the ``<|VIDEO|>`` placeholders into *video*, the
    ``<|AUDIO|>`` placeholders into *audio*, and every other prompt position (system prompt, delimiters
    such as ``<|vision_bos|>`` / ``<|audio_bos|>``, transcript, instruction) into *text*. With
    audio-in-video the processor writes one block ``<|vision_bos|><|audio_bos|>`` ...
    ``<|audio_eos|><|vision_eos|>`` whose placeholders alternate chunk by chunk (``seconds_per_chunk``,
    2 s: that chunk's video tokens, then its audio tokens); each position still goes by its own id, so
    every ``<|VIDEO|>`` counts as video and every ``<|AUDIO|>`` as audio wherever it sits, and the four
    delimiters count as text. A token's attention row is the one that *generated* it (position ``T + j - 1``,
    as for its entropy). A section's share of a span is its rows' attention mass on that span,
    summed over its rows and averaged over layers and heads, divided by the same mass on the whole
    prompt: the three shares sum to 1, and the attention the rows pay to the trace itself (see
    ``token_attention[:, 3]``) is left out of the normalisation.
    """
    start = time.perf_counter()
    ls = _label_set(labels)
    tok = processor.tokenizer
    thinker = unwrap_thinker(model)
    device = next(model.parameters()).device
    inputs = omni_inputs(processor, [chat_messages(sample, ls.labels, data_root, include_transcript=include_transcript)],
                         add_generation_prompt=True, fps=fps, size=size).to(device)
    stops = stop_ids(model)
    was_training = model.training
    model.eval()
    try:
        ids = _completion(model, processor, inputs, text, max_new_tokens, stops)
        t = inputs["input_ids"].shape[1]
        n = len(ids)
        prompt_classes = key_classes(inputs["input_ids"][0].tolist(), inputs["attention_mask"][0].tolist(),
                                     processor.video_token_id, processor.audio_token_id)
        classes = torch.tensor(np.concatenate([prompt_classes, np.full(n, 3)]), dtype=torch.long)
        tally = _AttentionTally(slice(t - 1, t - 1 + n), classes)
        seq = torch.tensor([ids], dtype=torch.long)
        with torch.no_grad(), eager_text_attention(model):
            hooks = [m.register_forward_hook(tally) for m in _attention_layers(model)]
            try:
                hidden = teacher_forced_hidden(model, inputs, seq, torch.ones_like(seq))
            finally:
                for h in hooks:
                    h.remove()
            logits = thinker.get_output_embeddings()(hidden[0, t - 1:t - 1 + n]).float()
            logp = torch.log_softmax(logits, dim=-1)
            p = logp.exp()
            entropy = (-torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1)).cpu().numpy()
            chosen = logp.gather(-1, seq[0, :, None].to(logp.device)).squeeze(-1).exp().cpu().numpy()
            del logits, logp, p
        body = ids[:-1] if ids[-1] in stops else ids
        gold = sample.label
        probs = answer_probs(model, inputs, torch.tensor([body], dtype=torch.long), [gold], tok, stops=stops)[0]
    finally:
        model.train(was_training)
    token_attention = tally.mean()
    pieces = [tok.decode([i], skip_special_tokens=False, clean_up_tokenization_spaces=False) for i in ids]
    gids = guided_token_ids(processor)
    guided: dict[str, dict[str, float] | None] = {}
    for token in GUIDED_TOKENS:
        j = body.index(gids[token]) if gids[token] in body else None
        guided[token] = None if j is None else {"index": j, "entropy": float(entropy[j]), "prob": float(chosen[j])}
    h = {m: guided[f"[{m}]"]["entropy"] for m in ("vision", "audio") if guided[f"[{m}]"]}
    pm = {m: guided[f"[{m}]"]["prob"] for m in ("vision", "audio") if guided[f"[{m}]"]}
    weights = modality_weights(h, pm) if len(h) == 2 else None
    trace = decode(processor, ids)[0]
    valid = is_valid(trace)
    p_star = None if probs is None else probs["p_star"]
    spans = section_spans(body, gids, think_end(pieces[:len(body)]))
    attention = section_shares(token_attention, {**spans, ALL: (0, n)})
    frames, wave, rate, aiv = _media(sample, data_root, n_frames, frame_edge, wave_points)
    return TraceAnalysis(
        sample_id=sample.id, gold=gold, text=trace, answer=extract_answer(trace, ls), valid_format=valid,
        token_ids=ids, tokens=pieces, entropy=entropy, prob=chosen, guided=guided, weights=weights, p_star=p_star,
        r_mod=modality_entropy_reward({m: h.get(m) for m in ("vision", "audio")},
                                      {m: pm.get(m) for m in ("vision", "audio")}, p_star) if valid else 0.0,
        sections=spans, attention=attention, token_attention=token_attention,
        span_sizes={s: int((prompt_classes == k).sum()) for k, s in enumerate(SPANS)},
        frames=frames, waveform=wave, waveform_rate=rate, audio_in_video=aiv,
        seconds=time.perf_counter() - start)
