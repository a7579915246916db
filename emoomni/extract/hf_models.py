"""Transformers backends: Qwen3-VL (vision), Qwen2-Audio (audio), Whisper (dialogue), Qwen3 (verifier).

Each backend loads its model lazily on first use through :func:`emoomni.pretrained.load_pretrained`
(safetensors only, offline-safe) and caches it on the instance. Generation is batched with left
padding and greedy (so a batch gives the same replies as one sample at a time, up to padding
numerics). Options come from the params as keyword arguments:

``model`` (local path or hub id), ``dtype`` (auto, float32, bfloat16, float16), ``device``
(cpu, cuda, auto), ``batch_size``, ``max_new_tokens``, ``prompts`` (a :class:`Prompts` or a dict
of overrides), and per backend ``num_frames`` (Qwen3-VL), ``prefer_transcript`` and
``chunk_length_s`` (Whisper).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from emoomni.progress import tqdm

from emoomni.data.manifest import Sample
from emoomni.extract.base import Evidence, ExtractionError, Extractor, load_clip_audio, media_path, register
from emoomni.extract.verify import Verdict, Verifier, llm_verdict, register_verifier
from emoomni.media import MediaError, probe, read_frames
from emoomni.pretrained import load_pretrained, load_processor
from emoomni.prompts import Prompts

log = logging.getLogger(__name__)

COMMON_OPTIONS = {"model": None, "dtype": "auto", "device": "cpu", "batch_size": 4, "max_new_tokens": 256,
                  "prompts": None}
PLACEHOLDERS = ("<|image_pad|>", "<|video_pad|>", "<|AUDIO|>", "<|vision_start|>", "<|vision_end|>",
                "<|audio_bos|>", "<|audio_eos|>", "<|audio_start|>", "<|audio_end|>")


def batches(items: Sequence[Any], size: int, desc: str) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``size`` items, with a progress bar over the slices."""
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, got {size}")
    starts = range(0, len(items), size)
    for start in tqdm(starts, desc=desc, unit="batch", leave=False, disable=len(starts) <= 1):
        yield items[start:start + size]


class HFBackend:
    """Option checking, lazy model loading and greedy batched generation shared by the backends."""

    model_class: ClassVar[str]
    default_model: ClassVar[str]
    extra_options: ClassVar[dict[str, Any]] = {}

    def _setup(self, options: dict[str, Any]) -> dict[str, Any]:
        """Check option names, fill defaults, validate the prompts; returns the resolved options."""
        allowed = {**COMMON_OPTIONS, **self.extra_options}
        unknown = set(options) - set(allowed)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown options {sorted(unknown)}; allowed: {sorted(allowed)}")
        opts = {**allowed, **options}
        opts["model"] = str(opts["model"] or self.default_model)
        self.prompts = Prompts.resolve(opts["prompts"])
        opts["prompts"] = asdict(self.prompts)  # the texts in force, so that they enter the cache key
        self._model: Any = None
        self._processor: Any = None
        return opts

    def load(self) -> tuple[Any, Any]:
        """Load (once) and return the model and its processor."""
        if self._model is None:
            import transformers

            o = self.options
            log.info("%s: loading %s", type(self).__name__, o["model"])
            self._processor = load_processor(None, o["model"])
            self._model = load_pretrained(getattr(transformers, self.model_class), o["model"], dtype=o["dtype"],
                                          device=o["device"])
        return self._model, self._processor

    @property
    def tokenizer(self) -> Any:
        """The tokenizer (the processor itself when the processor is a tokenizer)."""
        _, processor = self.load()
        return getattr(processor, "tokenizer", processor)

    def generate(self, inputs: Any) -> list[str]:
        """Greedy generation from processor outputs; returns the decoded continuations, stripped."""
        import torch

        model, _ = self.load()
        tok = self.tokenizer
        gc = copy.deepcopy(model.generation_config)
        gc.do_sample, gc.num_beams, gc.max_new_tokens, gc.max_length = False, 1, int(self.options["max_new_tokens"]), None
        gc.temperature = gc.top_p = gc.top_k = None
        if gc.pad_token_id is None:
            gc.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        vocab = tok.get_vocab()
        gc.suppress_tokens = sorted({*(gc.suppress_tokens or []), *(vocab[t] for t in PLACEHOLDERS if t in vocab)})
        inputs = inputs.to(model.device)
        for key, value in inputs.items():
            if torch.is_tensor(value) and value.is_floating_point():
                inputs[key] = value.to(model.dtype)
        with torch.inference_mode():
            out = model.generate(**inputs, generation_config=gc)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in tok.batch_decode(new, skip_special_tokens=True)]

    def chat(self, user: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A system + user conversation with the prompts' system text."""
        return [{"role": "system", "content": [{"type": "text", "text": self.prompts.system}]},
                {"role": "user", "content": user}]

    def left_pad(self) -> None:
        """Pad on the left, as decoder-only generation needs."""
        self.load()
        self.tokenizer.padding_side = "left"


def _nonempty(samples: Sequence[Sample], texts: Sequence[str], what: str) -> list[str]:
    """Raise ExtractionError naming the samples whose reply is empty."""
    empty = [s.id for s, t in zip(samples, texts) if not t.strip()]
    if empty:
        raise ExtractionError(f"empty {what} for sample(s) {', '.join(empty)}")
    return list(texts)


@register
class Qwen3VLExtractor(HFBackend, Extractor):
    """Describe the face and scene from ``num_frames`` evenly sampled video frames with Qwen3-VL."""

    modality = "vision"
    name = "qwen3vl"
    model_class = "Qwen3VLForConditionalGeneration"
    default_model = "Qwen/Qwen3-VL-8B-Instruct"
    extra_options = {"num_frames": 8}

    def __init__(self, **options: Any) -> None:
        super().__init__(**self._setup(options))

    def clip(self, sample: Sample, data_root: Path) -> tuple[np.ndarray, Any]:
        """The sampled frames (T, H, W, 3) of a sample's video and their metadata (fps, indices)."""
        from transformers.video_utils import VideoMetadata

        path = media_path(sample, data_root, "video")
        try:
            frames = read_frames(path)
            duration = probe(path).duration
        except MediaError as e:
            raise ExtractionError(f"sample {sample.id!r}: {e}") from None
        n = max(2, int(self.options["num_frames"]))
        idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
        fps = len(frames) / duration if duration else None
        meta = VideoMetadata(total_num_frames=len(frames), fps=fps, width=frames.shape[2], height=frames.shape[1],
                             duration=duration, frames_indices=idx.tolist())
        return frames[idx], meta

    def describe(self, batch: Sequence[Sample], data_root: Path, labels: Sequence[str]) -> list[str]:
        """One visual description per sample."""
        self.left_pad()
        _, processor = self.load()
        prompt = self.prompts.extract("vision", labels)
        out: list[str] = []
        for chunk in batches(batch, int(self.options["batch_size"]), "qwen3vl"):
            clips = [self.clip(s, Path(data_root)) for s in chunk]
            text = processor.apply_chat_template(self.chat([{"type": "video"}, {"type": "text", "text": prompt}]),
                                                 tokenize=False, add_generation_prompt=True)
            inputs = processor(text=[text] * len(chunk), videos=[c[0] for c in clips],
                               video_metadata=[c[1] for c in clips], do_sample_frames=False,
                               padding=True, return_tensors="pt")
            out += _nonempty(chunk, self.generate(inputs), "reply")
        return out


@register
class Qwen2AudioExtractor(HFBackend, Extractor):
    """Describe the tone of voice with Qwen2-Audio (the audio file, else the video's audio track)."""

    modality = "audio"
    name = "qwen2audio"
    model_class = "Qwen2AudioForConditionalGeneration"
    default_model = "Qwen/Qwen2-Audio-7B-Instruct"

    def __init__(self, **options: Any) -> None:
        super().__init__(**self._setup(options))

    def describe(self, batch: Sequence[Sample], data_root: Path, labels: Sequence[str]) -> list[str]:
        """One vocal description per sample."""
        self.left_pad()
        _, processor = self.load()
        rate = processor.feature_extractor.sampling_rate
        prompt = self.prompts.extract("audio", labels)
        out: list[str] = []
        for chunk in batches(batch, int(self.options["batch_size"]), "qwen2audio"):
            audio = [load_clip_audio(s, Path(data_root), rate) for s in chunk]
            text = processor.apply_chat_template(
                self.chat([{"type": "audio", "audio": "clip"}, {"type": "text", "text": prompt}]),
                tokenize=False, add_generation_prompt=True)
            inputs = processor(text=[text] * len(chunk), audio=audio, sampling_rate=rate, padding=True,
                               return_tensors="pt")
            out += _nonempty(chunk, self.generate(inputs), "reply")
        return out


@register
class WhisperExtractor(HFBackend, Extractor):
    """Transcribe the speech with Whisper (the transformers ASR pipeline, English, transcribe)."""

    modality = "dialogue"
    name = "whisper"
    model_class = "WhisperForConditionalGeneration"
    default_model = "openai/whisper-large-v3"
    extra_options = {"prefer_transcript": False, "chunk_length_s": None}

    def __init__(self, **options: Any) -> None:
        super().__init__(**self._setup(options))
        self._pipe: Any = None

    def pipeline(self) -> Any:
        """The ASR pipeline over the loaded model (built once)."""
        if self._pipe is None:
            from transformers import pipeline

            model, processor = self.load()
            self._pipe = pipeline("automatic-speech-recognition", model=model, tokenizer=processor.tokenizer,
                                  feature_extractor=processor.feature_extractor, device=model.device)
        return self._pipe

    def describe(self, batch: Sequence[Sample], data_root: Path, labels: Sequence[str]) -> list[str]:
        """One transcript per sample (the manifest's, with ``prefer_transcript``, where it has one)."""
        o = self.options
        out: dict[int, str] = {}
        todo = []
        for i, s in enumerate(batch):
            if o["prefer_transcript"] and s.transcript and s.transcript.strip():
                out[i] = s.transcript.strip()
            else:
                todo.append(i)
        if todo:
            pipe = self.pipeline()
            rate = pipe.feature_extractor.sampling_rate
            kwargs: dict[str, Any] = {"generate_kwargs": {"language": "en", "task": "transcribe",
                                                          "max_new_tokens": int(o["max_new_tokens"])}}
            if o["chunk_length_s"]:
                kwargs["chunk_length_s"] = float(o["chunk_length_s"])
            for chunk in batches(todo, int(o["batch_size"]), "whisper"):
                samples = [batch[i] for i in chunk]
                audio = [{"raw": load_clip_audio(s, Path(data_root), rate), "sampling_rate": rate} for s in samples]
                result = pipe(audio, batch_size=len(chunk), **kwargs)
                texts = _nonempty(samples, [r["text"].strip() for r in result], "transcript")
                out.update(zip(chunk, texts))
        return [out[i] for i in range(len(batch))]


@register_verifier
class Qwen3Verifier(HFBackend, Verifier):
    """Ask a Qwen3 chat model whether the delimited evidence supports the gold label."""

    name = "qwen3"
    model_class = "AutoModelForCausalLM"
    default_model = "Qwen/Qwen3-8B"

    def __init__(self, **options: Any) -> None:
        super().__init__(**self._setup(options))

    def load(self) -> tuple[Any, Any]:
        """Load the model and its tokenizer (a text model has no multimodal processor)."""
        if self._model is None:
            import transformers

            o = self.options
            self._processor = load_processor(transformers.AutoTokenizer, o["model"])
            self._model = load_pretrained(transformers.AutoModelForCausalLM, o["model"], dtype=o["dtype"],
                                          device=o["device"])
        return self._model, self._processor

    def prompt(self, evidence: Evidence, label: str, labels: Sequence[str]) -> str:
        """The chat-formatted verification prompt for one item (thinking switched off where supported)."""
        tok = self.tokenizer
        parts = {m: getattr(evidence, m) or "(no evidence)" for m in ("vision", "audio", "dialogue")}
        messages = [{"role": "system", "content": self.prompts.system},
                    {"role": "user", "content": self.prompts.verification(parts, label, labels)}]
        extra = {"enable_thinking": False} if "enable_thinking" in str(tok.chat_template or "") else {}
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)

    def judge(self, items: Sequence[tuple[Evidence, str]], labels: Sequence[str]) -> list[Verdict]:
        """One verdict per (evidence, gold label) pair; an unparseable reply is recorded as such."""
        self.left_pad()
        tok = self.tokenizer
        verdicts: list[Verdict] = []
        for chunk in batches(items, int(self.options["batch_size"]), "qwen3 verifier"):
            texts = [self.prompt(ev, label, labels) for ev, label in chunk]
            inputs = tok(texts, padding=True, add_special_tokens=False, return_tensors="pt")
            replies = self.generate(inputs)
            verdicts += [llm_verdict(ev.sample_id, reply, self.name) for (ev, _), reply in zip(chunk, replies)]
        return verdicts
