"""Paper scale, rehearsed: Qwen2.5-Omni-7B's real shapes through OmniCoT SFT, DyME-GRPO and prediction.

:func:`rehearse` builds the 7B thinker at its released widths, vocabulary and token ids and at a reduced
depth (:func:`emoomni.model.paper_thinker.build_paper_thinker`), renders clips with a moving picture and
a sound track at a real frame size (:func:`make_clip`), and on each clip runs the paper profile's code
path for one OmniCoT SFT step (:func:`emoomni.train.sft.make_sft_trainer`), one DyME-GRPO step
(:func:`emoomni.train.grpo.make_grpo_trainer`, ``num_generations`` completions of ``completion`` tokens)
and one prediction with the guided-token statistics (:func:`emoomni.evaluate.predict.predict`), with the
settings of ``params/paper.yaml`` except what one step on one clip needs (one step, batch of one
prompt, no checkpoint). It reports per clip the input tokens by modality and whether the long clip's
audio (past Whisper's usual 30 s) and its audio-in-video interleaving are what the 7B's processor
makes, and per stage the time and the peak memory (resident set on a CPU, allocated memory on CUDA).
One model instance lives at a time: each stage's LoRA adapter is unloaded before the next.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emoomni import config
from emoomni.build import OmniCoTRecord
from emoomni.data.manifest import Sample
from emoomni.evaluate.predict import predict
from emoomni.labels import label_set
from emoomni.model import chat_messages, omni_inputs
from emoomni.model.paper_thinker import build_paper_thinker, depth_of
from emoomni.omni7b import audio_tokens, clip_shape
from emoomni.omnicot import OmniCoT
from emoomni.train.grpo import grpo_rows, make_grpo_trainer
from emoomni.train.sft import make_sft_trainer

log = logging.getLogger(__name__)

STAGES = ("sft", "grpo", "predict")
TRANSCRIPT = "I really did not expect to see you here today, and honestly I do not know what to say about it."


def native_dtype(device: str) -> str:
    """The dtype a rehearsal on ``device`` uses by default: bfloat16 where the hardware computes it natively.

    A CPU without AVX-512 BF16 or AMX emulates bfloat16 matrix products, which there run over a hundred
    times slower than float32 (0.27 s against 38 s for a 64 x 3584 by 3584 x 18944 product on one AVX2 core).

    >>> native_dtype("cuda"), native_dtype("cpu") in ("bfloat16", "float32")
    ('bfloat16', True)
    """
    if device.startswith("cuda"):
        return "bfloat16"
    native = (getattr(torch.cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return "bfloat16" if any(native) else "float32"


def make_clip(path: str | Path, seconds: float, width: int = 640, height: int = 360, fps: int = 25,
              sample_rate: int = 16000, seed: int = 0) -> Path:
    """Write an MP4 (H.264 or MPEG-4 video, AAC sound) of a drifting picture and a voiced, pitch-varying sound."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    n_frames = max(1, round(seconds * fps))
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sample_rate) / k for k in range(1, 6))
    syllables = (np.sin(2 * np.pi * 3.5 * t) > -0.3).astype(np.float32)
    wave = (0.25 * voice * syllables + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    with av.open(str(path), "w") as out:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=sample_rate)
        audio.layout = "mono"
        for i in range(n_frames):
            phase = i / fps
            img = np.stack([128 + 100 * np.sin(xx / 37 + phase), 128 + 100 * np.sin(yy / 23 - 1.3 * phase),
                            128 + 100 * np.sin((xx + yy) / 51 + 0.7 * phase)], -1).clip(0, 255).astype(np.uint8)
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        step = 1024
        for k in range(0, wave.size, step):
            frame = av.AudioFrame.from_ndarray(wave[None, k:k + step], format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = sample_rate, k, Fraction(1, sample_rate)
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path


class PeakMemory:
    """Peak memory while the block runs: resident set size (sampled every 20 ms) or CUDA's allocated peak, in GiB."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.peak = 0.0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> float:
        """This process's resident set size in GiB."""
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            self.peak = self.rss()
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() / 2**30
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self.rss())


@dataclass
class StageResult:
    """One stage on one clip: wall time, peak memory, and what the stage made."""

    stage: str
    seconds: float
    peak_gib: float
    detail: dict = field(default_factory=dict)


@dataclass
class ClipResult:
    """One clip: its shape, its input tokens by modality, the layout checks, and the stages run on it."""

    seconds: float
    width: int
    height: int
    tokens: dict[str, int]
    expected: dict[str, int]
    checks: dict[str, bool]
    stages: list[StageResult] = field(default_factory=list)


@dataclass
class Rehearsal:
    """A whole rehearsal: the model built, the clips and the stage measurements."""

    depth: int | None
    dtype: str
    device: str
    parameters: int
    build_seconds: float
    weights_gib: float
    clips: list[ClipResult]
    total_seconds: float = 0.0

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        return asdict(self)


def interleave_runs(seconds_per_grid: float, grids: int, tokens_per_grid: int, audio: int,
                    position_id_per_seconds: float = 25, seconds_per_chunk: float = 2) -> list[tuple[str, int]]:
    """The 7B processor's audio-in-video layout: per 2-s chunk, that chunk's video tokens, then its audio tokens.

    Adjacent runs of one kind join, as in a prompt: audio past the last video chunk (an AAC track a few
    ms longer than its video) extends the last audio run.

    >>> interleave_runs(1.0, 3, 10, 75)
    [('video', 20), ('audio', 50), ('video', 10), ('audio', 25)]
    >>> interleave_runs(1.0, 4, 10, 101)
    [('video', 20), ('audio', 50), ('video', 20), ('audio', 51)]
    """
    per_chunk = int(position_id_per_seconds * seconds_per_chunk)
    video_chunks = [0] * (int(grids * seconds_per_grid * position_id_per_seconds) // per_chunk + 1)
    for g in range(grids):
        video_chunks[int(g * seconds_per_grid * position_id_per_seconds) // per_chunk] += tokens_per_grid
    audio_chunks = [min(per_chunk, audio - k) for k in range(0, audio, per_chunk)]
    while video_chunks and video_chunks[-1] == 0:
        video_chunks.pop()
    runs = []
    for j in range(max(len(video_chunks), len(audio_chunks))):
        if j < len(video_chunks) and video_chunks[j]:
            runs.append(("video", video_chunks[j]))
        if j < len(audio_chunks):
            runs.append(("audio", audio_chunks[j]))
    return _merge(runs)


def token_runs(ids: Sequence[int], video_id: int, audio_id: int) -> list[tuple[str, int]]:
    """Run lengths of video and audio placeholder ids in a prompt (text between them ignored).

    >>> token_runs([1, 7, 7, 8, 7, 2], 7, 8)
    [('video', 2), ('audio', 1), ('video', 1)]
    """
    kinds = ["video" if i == video_id else "audio" for i in ids if i in (video_id, audio_id)]
    return _merge([(k, 1) for k in kinds])


def _merge(runs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for kind, n in runs:
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + n)
        else:
            out.append((kind, n))
    return out


def inspect_clip(processor: Any, sample: Sample, root: Path, labels: Sequence[str], width: int, height: int,
                 seconds: float, fps: float, size: int | dict | None) -> tuple[dict, dict, dict]:
    """Tokens by modality of the clip's prompt, what the 7B's arithmetic expects, and the layout checks."""
    chat = chat_messages(sample, labels, root)
    inputs = omni_inputs(processor, [chat], add_generation_prompt=True, fps=fps, size=size)
    ids = inputs["input_ids"][0].tolist()
    vid, aid = processor.video_token_id, processor.audio_token_id
    tokens = {"video": ids.count(vid), "audio": ids.count(aid)}
    tokens["text"] = len(ids) - tokens["video"] - tokens["audio"]
    tokens["total"] = len(ids)
    shape = clip_shape(seconds, height, width)
    grid = inputs["video_grid_thw"][0].tolist()
    per_grid = grid[1] * grid[2] // processor.video_processor.merge_size ** 2
    expected = {"video": shape.video_tokens, "audio": shape.audio_tokens, "frames": shape.frames,
                "frame_height": shape.height, "frame_width": shape.width}
    runs = token_runs(ids, vid, aid)
    want = interleave_runs(float(inputs["video_second_per_grid"][0]), grid[0], per_grid, tokens["audio"],
                           processor.position_id_per_seconds, processor.seconds_per_chunk)
    n_features = int(inputs["feature_attention_mask"].sum())
    expected["audio"] = audio_tokens(n_features / 100)  # the decoded track (AAC pads a few ms) as the 7B counts it
    checks = {
        "video_tokens_as_7b": tokens["video"] == shape.video_tokens,
        "audio_tokens_as_7b": tokens["audio"] == expected["audio"],
        "audio_past_30s_kept": seconds <= 30 or tokens["audio"] > 750,
        "audio_features_cover_clip": abs(n_features - seconds * 100) <= 100,
        "audio_in_video_interleaved_as_7b": runs == want and bool(inputs["use_audio_in_video"]),
    }
    return tokens, expected, checks


def _record(sample: Sample) -> OmniCoTRecord:
    trace = OmniCoT(vision="The speaker's brows are raised and the mouth is open.",
                    audio="The voice rises in pitch and speeds up.", dialogue=sample.transcript or "",
                    analysis="Raised brows, a rising voice and the words all point to surprise.", answer=sample.label or "")
    return OmniCoTRecord(sample.id, trace, verified=True, reason="rehearsal")


def _stage(name: str, device: str, fn: Callable[[], dict]) -> StageResult:
    start = time.perf_counter()
    with PeakMemory(device) as mem:
        detail = fn()
    result = StageResult(name, time.perf_counter() - start, mem.peak, detail)
    log.info("%s: %.1f s, peak %.2f GiB %s", name, result.seconds, result.peak_gib, detail)
    return result


def _unload(model: Any) -> Any:
    """The base model back from a peft wrapper (the LoRA layers and trainable token rows removed)."""
    return model.unload() if hasattr(model, "unload") else model


def rehearse(depth: int | str | None = 1, seconds: Sequence[float] = (3.0, 12.0, 40.0), width: int = 640,
             height: int = 360, stages: Sequence[str] = STAGES, dtype: str = "auto", device: str = "cpu",
             num_generations: int = 2, completion: int = 32, profile: str = "paper", work_dir: str | Path | None = None,
             progress: Callable[[str], None] | None = None, stages_up_to: float | None = None) -> Rehearsal:
    """Run the rehearsal (see the module docstring) and return its measurements.

    ``dtype`` "auto" takes :func:`native_dtype`. Clips longer than ``stages_up_to`` seconds (None: no
    limit) get the token and layout checks only:
    at depth 1 on a 2-core CPU one forward pass of a 40 s clip (13,100 tokens) takes 85 s, and the
    three stages need on the order of twenty of them.
    """
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise ValueError(f"unknown stage(s) {bad}; choose from {STAGES}")
    say = progress or log.info
    dtype = native_dtype(device) if dtype == "auto" else dtype
    start = time.perf_counter()
    params = config.load(profile)
    ls = label_set(params.omnicot.label_set)
    bf16 = dtype == "bfloat16"
    sft_s = replace(params.sft.settings, max_steps=1, per_device_batch_size=1, gradient_accumulation_steps=1,
                    save_steps=10**6, eval_steps=10**6, dtype=dtype, bf16=bf16, dataloader_num_workers=0)
    grpo_s = replace(params.grpo.settings, max_steps=1, num_generations=num_generations,
                     per_device_batch_size=num_generations, gradient_accumulation_steps=1,
                     max_completion_length=completion, save_steps=10**6, dtype=dtype, bf16=bf16, report_to=(),
                     dataloader_num_workers=0)
    fps, size = sft_s.fps, sft_s.frame_size
    cpu = {} if device.startswith("cuda") else {"use_cpu": True}
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        root = Path(tmp)
        say(f"building the 7B thinker at depth {depth_of(depth) or 'full'} ({dtype}, {device})")
        t0 = time.perf_counter()
        model, processor = build_paper_thinker(depth, dtype=dtype, device=device)
        build_seconds = time.perf_counter() - t0
        n_params = sum(p.numel() for p in model.parameters())
        weights = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30
        clips = []
        for k, sec in enumerate(seconds):
            name = f"clip{k}_{sec:g}s.mp4"
            say(f"clip {sec:g} s at {width}x{height}")
            make_clip(root / name, sec, width, height, seed=k)
            sample = Sample(f"rehearsal-{k}", "rehearsal", "train", video=name, audio=None, transcript=TRANSCRIPT,
                            label="surprised" if "surprised" in ls.labels else ls.labels[0])
            tokens, expected, checks = inspect_clip(processor, sample, root, ls.labels, width, height, sec, fps, size)
            clip = ClipResult(sec, width, height, tokens, expected, checks)
            clips.append(clip)
            say(f"  tokens {tokens}; checks {checks}")
            if stages_up_to is not None and sec > stages_up_to:
                say(f"  stages skipped: longer than {stages_up_to:g} s")
                continue
            if "sft" in stages:
                def sft() -> dict:
                    trainer = make_sft_trainer("rehearsal", [_record(sample)], [sample], root, ls.labels,
                                               root / f"sft{k}", sft_s, loaded=(model, processor), **cpu)
                    out = trainer.train()
                    trainer.model = _unload(trainer.model)
                    return {"loss": float(out.training_loss)}
                clip.stages.append(_stage("sft", device, sft))
                say(f"  sft {clip.stages[-1].seconds:.1f} s, peak {clip.stages[-1].peak_gib:.2f} GiB")
            if "grpo" in stages:
                def grpo() -> dict:
                    rows = grpo_rows([sample], root, params.omnicot.label_set, grpo_s)
                    trainer = make_grpo_trainer("rehearsal", rows, root / f"grpo{k}", grpo_s, loaded=(model, processor))
                    gen = _timed(trainer, "_generate_single_turn")
                    trainer.train()
                    trainer.model = _unload(trainer.model)
                    return {"generate_seconds": gen["seconds"], "completions": num_generations,
                            "completion_tokens": completion}
                clip.stages.append(_stage("grpo", device, grpo))
                say(f"  grpo {clip.stages[-1].seconds:.1f} s, peak {clip.stages[-1].peak_gib:.2f} GiB")
            if "predict" in stages:
                def pred() -> dict:
                    [p] = predict(model, processor, [sample], root, ls, root / f"pred{k}.jsonl", batch_size=1,
                                  max_new_tokens=completion, fps=fps, size=size)
                    return {"generate_seconds": p.generate_seconds, "stats_seconds": p.stats_seconds,
                            "n_tokens": p.n_tokens, "guided_tokens": sum(v is not None for v in p.stats.values())}
                clip.stages.append(_stage("predict", device, pred))
                say(f"  predict {clip.stages[-1].seconds:.1f} s, peak {clip.stages[-1].peak_gib:.2f} GiB")
    return Rehearsal(depth_of(depth), dtype, device, n_params, build_seconds, weights, clips,
                     time.perf_counter() - start)


def _timed(obj: Any, method: str) -> dict:
    """Wrap ``obj.method`` so that its total wall time accumulates in the returned dict's ``seconds``."""
    box = {"seconds": 0.0}
    inner = getattr(obj, method)

    def wrapper(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return inner(*a, **kw)
        finally:
            box["seconds"] += time.perf_counter() - t
    setattr(obj, method, wrapper)
    return box


def table(result: Rehearsal) -> str:
    """The rehearsal as a plain-text table: per clip and stage, tokens by modality, time and peak memory."""
    head = (f"Qwen2.5-Omni-7B thinker, depth {result.depth or 'full'} ({result.parameters / 1e9:.2f} B parameters, "
            f"{result.weights_gib:.1f} GiB of weights, built in {result.build_seconds:.0f} s), {result.dtype} on "
            f"{result.device}; {result.total_seconds:.0f} s in all")
    lines = [head, f"{'clip':>6} {'frame':>9} {'video':>6} {'audio':>6} {'text':>5} {'total':>6}  "
                   f"{'stage':<8} {'time s':>7} {'peak GiB':>8}"]
    for c in result.clips:
        t = c.tokens
        first = f"{c.seconds:>5g}s {c.width:>4}x{c.height:<4} {t['video']:>6} {t['audio']:>6} {t['text']:>5} {t['total']:>6}"
        if not c.stages:
            lines.append(f"{first}  (token and layout checks only)")
        for i, s in enumerate(c.stages):
            lines.append(f"{first if i == 0 else ' ' * len(first)}  {s.stage:<8} {s.seconds:>7.1f} {s.peak_gib:>8.2f}")
        failed = [k for k, ok in c.checks.items() if not ok]
        lines.append(f"{'':>6} checks: " + ("all as in the 7B" if not failed else "FAILED " + ", ".join(failed)))
    return "\n".join(lines)
