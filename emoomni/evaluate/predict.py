"""Batched, resumable prediction over a manifest: OmniCoT generation, the answer (Phi) and the exact statistics.

:func:`predict` formats each sample with :func:`emoomni.model.chat_messages`, builds left-padded inputs with
:func:`emoomni.model.omni_inputs`, generates (greedy by default, multimodal placeholder ids suppressed),
decodes with :func:`emoomni.model.decode`, and measures H_m / p_m at the guided tokens and p* with
:mod:`emoomni.model.guided_stats`. Every finished batch is appended to a JSONL file of :class:`Prediction`
records; a rerun skips the sample ids already there, so a killed run resumes without losing or
duplicating records.

Batches are homogeneous in the rotary layout: samples whose video is shown without its own audio
track ("plain" video) never share a batch with audio-in-video clips. Such mixed batches need per-sample
3D ``position_ids`` (see :func:`emoomni.model.omni_inputs`); grouping avoids relying on ``generate`` to
extend them. Greedy outputs do not depend on the grouping or the batch size (up to float noise).
"""

from __future__ import annotations

import copy
import json  # noqa: F401 (used by the doctests)
import logging
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from emoomni.progress import tqdm

from emoomni.data.manifest import Sample
from emoomni.labels import LABEL_SETS, LabelSet, extract_answer, label_set
from emoomni.model import audio_in_video, chat_messages, decode, guided_token_ids, omni_inputs, placeholder_ids
from emoomni.model.entropy_sites import check_site
from emoomni.model.guided_stats import (MODALITIES, completion_lengths, completion_stats, last_position_head,
                                        stop_ids)
from emoomni.omnicot import check_order, is_valid
from emoomni.records import append_lines, checked_fields, load_journal, to_line, write_lines

log = logging.getLogger(__name__)



@dataclass
class Prediction:
    """One model output: the text, its answer (Phi; None when unparseable), the gold label and the statistics.

    ``stats`` maps each modality in :data:`~emoomni.model.guided_stats.MODALITIES` to ``{'entropy': H_m,
    'prob': p_m}`` at its first generated guided token (H_m at the prediction's entropy site), or None
    when the token was not generated.
    ``p_star`` is the product of the gold label's token probabilities in the answer slot and
    ``p_star_mean`` their geometric mean (both None without a gold label). ``n_tokens`` counts the
    generated tokens before the stop token; the ``*_seconds`` fields are this sample's share of its
    batch's wall time (generation, statistics, and everything including input building).
    """

    sample_id: str
    text: str
    answer: str | None
    gold: str | None
    valid_format: bool
    stats: dict[str, dict[str, float] | None] = field(default_factory=dict)
    p_star: float | None = None
    p_star_mean: float | None = None
    n_tokens: int = 0
    generate_seconds: float = 0.0
    stats_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def correct(self) -> bool:
        """Whether the extracted answer equals the gold label (an unparseable answer is wrong)."""
        return self.answer is not None and self.answer == self.gold

    def entropy(self, modality: str) -> float | None:
        """H_m for ``modality`` ('vision' or 'audio'), or None when its guided token was not generated."""
        s = self.stats.get(modality)
        return None if s is None else s["entropy"]

    def prob(self, modality: str) -> float | None:
        """p_m for ``modality``, or None when its guided token was not generated."""
        s = self.stats.get(modality)
        return None if s is None else s["prob"]

    def to_json(self) -> str:
        """One JSONL line, carrying the schema version."""
        return to_line(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prediction:
        """Build a Prediction from a decoded JSONL line, checking the schema version and fields.

        >>> p = Prediction("s1", "<answer>sad</answer>", "sad", "sad", False, {"vision": None, "audio": None})
        >>> Prediction.from_dict(json.loads(p.to_json())) == p
        True
        """
        return cls(**checked_fields(cls, d, kind="prediction"))


def write_predictions(predictions: Sequence[Prediction], path: str | Path) -> Path:
    """Write predictions as JSONL, atomically (a temporary file renamed into place)."""
    return write_lines((p.to_json() for p in predictions), path)


def _load(path: Path) -> tuple[dict[str, Prediction], bool]:
    """Records by sample id (first occurrence wins) and whether the file needs rewriting (torn tail, duplicates)."""
    return load_journal(path, Prediction.from_dict)


def read_predictions(path: str | Path) -> list[Prediction]:
    """Read a predictions JSONL file (a torn last line, left by a killed run, is ignored)."""
    return list(_load(Path(path))[0].values())


def _resolve_labels(labels: str | LabelSet | Sequence[str]) -> LabelSet:
    """A label set from its name, itself, or a sequence of class names (a registered set with exactly those
    classes, keeping its aliases, else a new set without aliases).

    >>> _resolve_labels(("neutral", "happy", "sad", "angry", "worried", "surprised")).name
    'synthemo'
    """
    if isinstance(labels, (str, LabelSet)):
        return label_set(labels)
    labels = tuple(labels)
    return next((ls for ls in LABEL_SETS.values() if ls.labels == labels), LabelSet("custom", labels))


def _plain_video(sample: Sample, data_root: str | Path) -> bool:
    """Whether the sample shows a video without its own audio track (the other rotary layout)."""
    return bool(sample.video) and not audio_in_video(sample, data_root)


def _batches(samples: Sequence[Sample], data_root: str | Path, batch_size: int) -> list[list[Sample]]:
    """Manifest-ordered batches, each homogeneous in audio-in-video layout (see the module docstring)."""
    groups: dict[bool, list[Sample]] = {}
    for s in samples:
        groups.setdefault(_plain_video(s, data_root), []).append(s)
    return [g[i:i + batch_size] for g in groups.values() for i in range(0, len(g), batch_size)]


def generation_config(model: Any, processor: Any, max_new_tokens: int, do_sample: bool, temperature: float,
                       top_p: float, top_k: int) -> Any:
    """A copy of the model's generation config: greedy or sampling as asked, placeholders suppressed."""
    gc = copy.deepcopy(model.generation_config)
    tok = processor.tokenizer
    if gc.eos_token_id is None:
        gc.eos_token_id = [tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")]
    if gc.pad_token_id is None:
        gc.pad_token_id = tok.pad_token_id
    gc.suppress_tokens = sorted(set(gc.suppress_tokens or []) | set(placeholder_ids(processor)))
    gc.max_new_tokens = max_new_tokens
    if do_sample:
        gc.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k)
    else:
        gc.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return gc


def _run_batch(model: Any, processor: Any, batch: list[Sample], data_root: str | Path, ls: LabelSet, gc: Any,
               seed: int, include_transcript: bool, fps: float, size: int | dict, entropy_site: str = "emitted",
               order: str = "fixed") -> list[Prediction]:
    """Generate for one batch, measure the statistics and build its records."""
    start = time.perf_counter()
    chats = [chat_messages(s, ls.labels, data_root, include_transcript=include_transcript) for s in batch]
    inputs = omni_inputs(processor, chats, add_generation_prompt=True, fps=fps, size=size)
    device = next(model.parameters()).device
    inputs = inputs.to(device)
    batch_seed = zlib.crc32(f"{seed}:{batch[0].id}".encode())
    t0 = time.perf_counter()
    with (torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
          last_position_head(model)):
        torch.manual_seed(batch_seed)
        out = model.generate(**inputs, generation_config=gc)
    completion = out.sequences[:, inputs["input_ids"].shape[1]:]
    t1 = time.perf_counter()
    ids = guided_token_ids(processor)
    stops = stop_ids(model) | {int(i) for i in ([gc.eos_token_id] if isinstance(gc.eos_token_id, int)
                                                else gc.eos_token_id or [])}
    stats, probs = completion_stats(model, inputs, completion, {m: ids[f"[{m}]"] for m in MODALITIES},
                                    [s.label for s in batch], processor.tokenizer, stops=stops, site=entropy_site,
                                    logits=out.logits)
    t2 = time.perf_counter()
    lengths = completion_lengths(completion, stops)
    texts = decode(processor, [row[:n] for row, n in zip(completion.tolist(), lengths)])
    n = len(batch)
    total = time.perf_counter() - start
    return [Prediction(sample_id=s.id, text=text, answer=extract_answer(text, ls), gold=s.label,
                       valid_format=is_valid(text, order), stats=st, p_star=None if pr is None else pr["p_star"],
                       p_star_mean=None if pr is None else pr["p_star_mean"], n_tokens=length,
                       generate_seconds=(t1 - t0) / n, stats_seconds=(t2 - t1) / n, seconds=total / n)
            for s, text, st, pr, length in zip(batch, texts, stats, probs, lengths)]


def predict(model: Any, processor: Any, samples: Sequence[Sample], data_root: str | Path,
            labels: str | LabelSet | Sequence[str], out_path: str | Path, batch_size: int = 16,
            max_new_tokens: int = 256, do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
            top_k: int = 0, seed: int = 0, include_transcript: bool = True, fps: float = 4.0,
            size: int | dict = 112, entropy_site: str = "emitted", order: str = "fixed") -> list[Prediction]:
    """Predict every sample (batched, resumable), append records to ``out_path``, return them in manifest order.

    ``labels`` is the label set (name, :class:`~emoomni.labels.LabelSet`, or class names) named in the
    prompt and used by answer extraction. Decoding is greedy unless ``do_sample``; then ``temperature``,
    ``top_p`` and ``top_k`` (0: off) apply, with the torch RNG seeded per batch from ``seed`` and the
    batch's first sample id (the global RNG state is left untouched). Sampled outputs therefore
    reproduce for the same batch layout; greedy outputs for any layout. Sample ids already in
    ``out_path`` are skipped; a torn last line left by a killed run is dropped and the file
    rewritten; records of ids not in ``samples`` stay in the file but are not returned.
    ``entropy_site`` is where H_m is read (:data:`emoomni.model.entropy_sites.ENTROPY_SITES`) and
    ``order`` the section order the format check accepts (:data:`emoomni.omnicot.ORDERS`); a file
    resumed under other values mixes them, so keep one file per choice. The model
    runs in eval mode (its previous mode is restored). A failing batch raises; the batches before it
    are on disk.
    """
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise ValueError("sample ids must be unique")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    ls = _resolve_labels(labels)
    check_site(entropy_site)
    check_order(order)
    out = Path(out_path)
    done: dict[str, Prediction] = {}
    if out.exists():
        done, dirty = _load(out)
        if dirty:
            write_predictions(list(done.values()), out)
    todo = [s for s in samples if s.id not in done]
    if len(todo) < len(samples):
        log.info("resuming %s: %d of %d samples already predicted", out, len(samples) - len(todo), len(samples))
    gc = generation_config(model, processor, max_new_tokens, do_sample, temperature, top_p, top_k)
    gc.update(output_logits=True, return_dict_in_generate=True)  # the statistics are read off these logits
    out.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with tqdm(total=len(samples), initial=len(samples) - len(todo), desc="predict", unit="sample") as bar:
            for batch in _batches(todo, data_root, batch_size):
                preds = _run_batch(model, processor, batch, data_root, ls, gc, seed, include_transcript, fps, size,
                                   entropy_site, order)
                append_lines((p.to_json() for p in preds), out)
                done.update((p.sample_id, p) for p in preds)
                bar.update(len(preds))
    finally:
        model.train(was_training)
    return [done[i] for i in ids]
