"""The costed plan for the paper's set-up: memory per GPU and wall time of SFT and DyME-GRPO on 4 x 80 GB.

Everything here is arithmetic on stored inputs: the 7B's shapes and clip token counts (:mod:`emoomni.omni7b`,
whose counts ``emoomni rehearse paper`` checks against the 7B's processor) and the settings of
:class:`PlanInputs` (the paper's set-up and every assumption, each with its reason). :func:`plan` returns one
row per clip length and stage; :func:`fit` names the setting that makes a row fit where it does not.

Model of the cost (stated once, used everywhere):

- **FLOPs.** A forward pass costs ``2 N T`` for ``N`` parameters applied to ``T`` tokens, plus causal
  attention ``2 T^2 h`` per language-model layer. The vision tower runs on 4 patches per merged video
  token, the audio tower on 2 frames per audio token; both are frozen and sit before every trainable
  weight, so they run forward only. LoRA training of the language model costs 3 forwards (forward,
  backward to the activations, recomputation under gradient checkpointing); the LM head 2 (forward,
  backward to its input). TRL's fused LM head (SFT and every GRPO pass) projects only the positions
  with a label (on CUDA; a CPU projects them all), in tiles of 4,096 positions x 32,768 words, so no
  pass holds the whole logit matrix; the prefill of ``generate`` projects only each row's last position
  (:func:`emoomni.model.guided_stats.last_position_head`: the thinker has no ``logits_to_keep``).
- **Time.** Compute at ``mfu`` of the GPUs' bf16 peak; a decoding step of ``generate`` reads the
  language model's weights and the KV cache once at ``decode_bandwidth_efficiency`` of the memory
  bandwidth, plus a fixed per-step overhead (Python and kernel launches).
- **Memory per GPU (DeepSpeed ZeRO-2).** bf16 weights replicated; LoRA weights, gradients and Adam states
  in fp32 sharded over the GPUs; with gradient checkpointing each layer's input (``2 h`` bytes a token)
  plus one layer's working set (``34 h`` bytes a token); in training, the fused head's bf16 tile and the
  dense bf16 gradients peft's trainable token rows give the whole embedding and lm_head (``2 V h`` bytes
  each); the KV cache at ``2 x layers x kv_width x 2`` bytes a token during generation, and with DyME's
  statistics the float32 logits generation keeps, one vocabulary row per completion token.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from emoomni.omni7b import clip_shape, lora_parameters, parameter_counts, thinker_spec

GIB = 2**30
HEAD_TILE = (4096, 32768)
"""TRL's fused LM head tile: positions x words (``TOKEN_CHUNK_SIZE``, ``_CHUNKED_LOGPROB_CHUNK_SIZE``)."""


@dataclass(frozen=True)
class PlanInputs:
    """The paper's set-up (Appendix C and the ``paper`` profile) and the assumptions of the cost model."""

    gpus: int = 4
    """4 x A100 80 GB (the paper's cluster)."""
    gpu_gib: float = 80.0
    peak_tflops: float = 312.0
    """A100 dense bf16 peak."""
    mfu: float = 0.35
    """Achieved share of peak in the training and scoring passes (an assumption; long multimodal sequences)."""
    memory_tbps: float = 2.0
    """A100 80 GB HBM bandwidth."""
    decode_bandwidth_efficiency: float = 0.6
    step_overhead_s: float = 0.12
    """Fixed cost of one ``generate`` decoding step at 7B scale (Python, launches), measured: on one H200 the
    full-depth thinker under its LoRA adapter generated 8 completions of 512 tokens in 64 s, 125 ms a step,
    for a 1,112- and a 4,056-token prompt alike, where reading the weights takes about 6 ms."""
    reserve_gib: float = 6.0
    """CUDA context, allocator fragmentation and DeepSpeed buffers (an assumption)."""
    sft_examples: int = 4400
    sft_epochs: float = 2.0
    """The paper profile's ``sft.settings.epochs`` (the paper gives none)."""
    sft_per_device: int = 4
    """Per-device batch (x 2 accumulation x 4 GPUs = the paper's global batch of 32)."""
    grpo_examples: int = 17000
    grpo_epochs: float = 1.0
    """One pass over the GRPO prompts (the paper gives none)."""
    num_generations: int = 8
    completion_tokens: int = 512
    """The paper profile's ``max_completion_length``; every completion is costed at full length."""
    grpo_per_device: int = 8
    """Completions per GPU and micro-batch (one prompt's group)."""
    rank: int = 8
    text_tokens: int = 160
    """Prompt text (system, labels, transcript) in the 7B's tokens."""
    target_tokens: int = 250
    """An OmniCoT trace in tokens (the SFT target)."""
    beta_reference_pass: bool = True
    """``beta`` is 0.04 in the paper profile, so TRL scores the completions under the reference policy."""
    statistics_pass: bool = True
    """DyME-GRPO's no-grad pass for H_m, p_m and p* (valid traces; costed for every completion)."""


def _spec_numbers(spec: dict | None = None) -> dict:
    spec = spec or thinker_spec()
    t = spec["text_config"]
    c = parameter_counts(spec)
    kv = t["num_key_value_heads"] * (t["hidden_size"] // t["num_attention_heads"])
    return {"h": t["hidden_size"], "V": t["vocab_size"], "L": t["num_hidden_layers"], "kv": kv,
            "layer": c["language_model_layer"], "lm": c["language_model"] - t["hidden_size"],
            "vision_block": c["vision_block"], "vision_depth": spec["vision_config"]["depth"],
            "merger": c["vision"] - spec["vision_config"]["depth"] * c["vision_block"],
            "audio": c["audio"], "total": sum(c[k] for k in ("language_model", "vision", "audio", "embed_tokens",
                                                              "lm_head"))}


def forward_flops(video: int, audio: int, tokens: int, head_positions: int, spec: dict | None = None) -> dict:
    """FLOPs of one forward pass by part: encoders, language model (with attention) and LM head.

    >>> f = forward_flops(0, 0, 1000, 1)
    >>> f["language_model"] == 2 * 28 * 233057792 * 1000 + 28 * 2 * 1000**2 * 3584
    True
    >>> f["lm_head"] == 2 * 152064 * 3584
    True
    """
    n = _spec_numbers(spec)
    enc = 2 * n["vision_block"] * n["vision_depth"] * 4 * video + 2 * n["merger"] * video + 2 * n["audio"] * 2 * audio
    lm = 2 * n["lm"] * tokens + n["L"] * 2 * tokens**2 * n["h"]
    return {"encoders": enc, "language_model": lm, "lm_head": 2 * n["V"] * n["h"] * head_positions}


@dataclass(frozen=True)
class Row:
    """One clip length and stage of the plan."""

    stage: str
    clip_seconds: float
    tokens: int
    memory_gib: float
    fits: bool
    seconds_per_example: float
    total_hours: float
    generation_share: float
    setting_that_fits: str | None = None


def _head_bytes(positions: int, n: dict) -> int:
    """Training memory of the LM head: the fused tile, and the dense gradients of the two wrapped vocabularies."""
    return 2 * min(positions, HEAD_TILE[0]) * HEAD_TILE[1] + 2 * (2 * n["V"] * n["h"])


def _sft_memory(p: PlanInputs, T: int, b: int, n: dict) -> float:
    lora = lora_parameters(p.rank) * (2 + 4 + 4 + 8) / p.gpus  # bf16 copy on every GPU; fp32 grads, Adam, master
    weights = 2 * n["total"]
    acts = b * T * n["h"] * (2 * n["L"] + 34)
    return (weights + lora + acts + _head_bytes(b * p.target_tokens, n)) / GIB + p.reserve_gib


def _grpo_memory(p: PlanInputs, T: int, n: dict) -> dict[str, float]:
    g = p.grpo_per_device
    weights = 2 * n["total"] + lora_parameters(p.rank) * (2 + 4 + 4 + 8) / p.gpus
    kv = g * (T + p.completion_tokens) * 2 * n["L"] * n["kv"] * 2
    kept_logits = g * p.completion_tokens * n["V"] * 4 * int(p.statistics_pass)
    loss_acts = g * (T + p.completion_tokens) * n["h"] * (2 * n["L"] + 34)
    return {"generation": (weights + kv + kept_logits) / GIB + p.reserve_gib,
            "loss": (weights + loss_acts + _head_bytes(g * p.completion_tokens, n)) / GIB + p.reserve_gib}


def sft_row(p: PlanInputs, seconds: float, T: int, video: int, audio: int) -> Row:
    """SFT on clips of ``seconds`` (``T`` prompt tokens): memory per GPU, time per example and for the data set."""
    n = _spec_numbers()
    full = T + p.target_tokens
    f = forward_flops(video, audio, full, p.target_tokens)
    flops = f["encoders"] + 3 * f["language_model"] + 2 * f["lm_head"]
    sec = flops / (p.gpus * p.peak_tflops * 1e12 * p.mfu)
    mem = _sft_memory(p, full, p.sft_per_device, n)
    hours = sec * p.sft_examples * p.sft_epochs / 3600
    return Row("sft", seconds, full, round(mem, 1), mem <= p.gpu_gib, round(sec, 3), round(hours, 2), 0.0)


def grpo_row(p: PlanInputs, seconds: float, T: int, video: int, audio: int) -> Row:
    """DyME-GRPO on prompts of ``T`` tokens: ``num_generations`` completions of ``completion_tokens``, generation included."""
    n = _spec_numbers()
    G, C = p.num_generations, p.completion_tokens
    prefill = forward_flops(video, audio, T, 1)
    scored = forward_flops(video, audio, T + C, C)
    passes = 3 * scored["language_model"] + 2 * scored["lm_head"] + scored["encoders"]
    passes += (int(p.beta_reference_pass) + int(p.statistics_pass)) * sum(scored.values())
    compute = G * (sum(prefill.values()) + passes) / (p.gpus * p.peak_tflops * 1e12 * p.mfu)
    per_gpu_groups = G / p.grpo_per_device  # decoding steps run once per micro-batch of completions
    weights_bytes = 2 * (n["lm"] + n["V"] * n["h"])
    kv_bytes = p.grpo_per_device * (T + C / 2) * 2 * n["L"] * n["kv"] * 2
    step = (weights_bytes + kv_bytes) / (p.memory_tbps * 1e12 * p.decode_bandwidth_efficiency) + p.step_overhead_s
    decode = per_gpu_groups * C * step / p.gpus
    gen = G * sum(prefill.values()) / (p.gpus * p.peak_tflops * 1e12 * p.mfu) + decode
    sec = compute + decode
    mem = max(_grpo_memory(p, T, n).values())
    hours = sec * p.grpo_examples * p.grpo_epochs / 3600
    return Row("grpo", seconds, T + C, round(mem, 1), mem <= p.gpu_gib, round(sec, 3), round(hours, 2),
               round(gen / sec, 3))


def fit(p: PlanInputs, stage: str, seconds: float, height: int, width: int) -> str | None:
    """The first setting, in order of least harm, under which the stage fits in a GPU's memory; None if none does.

    Tried in turn: a smaller per-device batch (gradient accumulation keeping the global batch), then fewer
    merged patches a frame pair (``qwen-omni-utils``' ``max_pixels``), then both at their smallest.
    """
    def row(q: PlanInputs, max_tokens: int = 768) -> Row:
        return _rows(q, seconds, height, width, max_tokens)[0 if stage == "sft" else 1]

    if row(p).fits:
        return None
    field_name = "sft_per_device" if stage == "sft" else "grpo_per_device"
    for b in (4, 2, 1):
        q = replace(p, **{field_name: b})
        if b < getattr(p, field_name) and row(q).fits:
            extra = (f", gradient_accumulation_steps x{getattr(p, field_name) // b}" if stage == "sft"
                     else f" ({b} completions a micro-batch)")
            return f"per_device_batch_size {b}{extra}"
    for tokens in (512, 384, 256, 128):
        if row(replace(p, **{field_name: 1}), tokens).fits:
            return (f"per_device_batch_size 1 and at most {tokens} merged patches a frame pair "
                    f"(max_pixels {tokens} x 28 x 28)")
    return None


def _rows(p: PlanInputs, seconds: float, height: int, width: int, max_tokens: int = 768) -> tuple[Row, Row]:
    shape = clip_shape(seconds, height, width)
    video = shape.video_tokens
    if max_tokens < 768:
        video = min(video, shape.frames // 2 * max_tokens)
    T = video + shape.audio_tokens + p.text_tokens
    return sft_row(p, seconds, T, video, shape.audio_tokens), grpo_row(p, seconds, T, video, shape.audio_tokens)


def plan(p: PlanInputs | None = None, seconds: tuple[float, ...] = (3.0, 12.0, 40.0),
         frame: tuple[int, int] = (720, 1280)) -> list[Row]:
    """The plan's rows: per clip length, SFT and GRPO at the 7B's frame size for a ``frame`` (h, w) source.

    A data set made only of clips of one length costs ``total_hours``; a real one lies between its
    rows. Rows that do not fit carry the setting that makes them fit.

    >>> rows = plan(seconds=(3.0,), frame=(360, 640))
    >>> [(r.stage, r.tokens, r.fits) for r in rows]
    [('sft', 1382, True), ('grpo', 1644, True)]
    """
    p = p or PlanInputs()
    out = []
    for s in seconds:
        for r in _rows(p, s, *frame):
            hint = None if r.fits else fit(p, r.stage, s, *frame)
            out.append(replace(r, setting_that_fits=hint))
    return out


def plan_table(rows: list[Row]) -> str:
    """The plan as a markdown table."""
    lines = ["| stage | clip | tokens | memory / GPU (GiB) | fits 80 GB | s / example | hours (all data) "
             "| generation share | setting that fits |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.stage} | {r.clip_seconds:g} s | {r.tokens:,} | {r.memory_gib:.1f} | "
                     f"{'yes' if r.fits else 'no'} | {r.seconds_per_example:.2f} | {r.total_hours:.1f} | "
                     f"{r.generation_share:.0%} | {r.setting_that_fits or ''} |")
    return "\n".join(lines)


def inputs_dict(p: PlanInputs | None = None) -> dict:
    """The plan's inputs as plain data (for the book and ``--json``)."""
    return asdict(p or PlanInputs())


def mean_clip_hours(rows: list[Row], stage: str, weights: dict[float, float]) -> float:
    """Hours of a stage for a data set whose clip lengths are mixed with ``weights`` (clip seconds -> share).

    >>> r = [Row("sft", 3.0, 1, 1.0, True, 1.0, 2.0, 0.0), Row("sft", 12.0, 1, 1.0, True, 1.0, 6.0, 0.0)]
    >>> mean_clip_hours(r, "sft", {3.0: 0.5, 12.0: 0.5})
    4.0
    """
    by = {r.clip_seconds: r.total_hours for r in rows if r.stage == stage}
    total = sum(weights.values())
    return sum(by[s] * w for s, w in weights.items()) / total if total else math.nan
