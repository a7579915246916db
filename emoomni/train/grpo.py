"""DyME-GRPO on TRL's ``GRPOTrainer``: video and audio through generation and the policy loss, R_mod from the policy.

What trains. A fresh peft LoRA adapter (language-model linears, guided-token rows through
``trainable_token_indices``, as in SFT) on the SFT model merged into its base
(:func:`emoomni.train.sft.merge_sft`), so that with ``beta > 0`` TRL's reference policy (the adapter
switched off) is the SFT model itself. The reward is ``R = R_fmt * R_acc + alpha * R_mod``
(:mod:`emoomni.train.rewards`): TRL's weighted sum of the ``format_accuracy`` reward (weight 1) and the
``modality`` reward (weight ``alpha``); ``alpha = 0`` is vanilla GRPO from the same code.

What :class:`DymeGRPOTrainer` changes in TRL 1.16 (which drops every Omni media field on the way to the
loss and only carries images):

- ``_tokenize_prompts`` runs the Omni processor over the unique prompts of a generation batch
  (dataset column ``prompt``: the chat of :func:`emoomni.model.chat_messages` as JSON) and keeps each
  prompt's media as one record (:mod:`emoomni.train.media_rows`);
- ``_generate_single_turn`` generates with those media (one ``generate`` call per rotary layout, since
  the model takes one audio-in-video flag per batch), suppressing the media placeholder ids;
- ``_generate_and_score_completions`` returns the records as the per-row list ``media``, which TRL's
  shuffle and split carry like any column, and ``compute_loss`` hands them to
  ``_get_per_token_logps_and_entropies``, which adds them (and per-sample rotary positions for a
  batch mixing layouts) to every forward pass: old and reference log-probs and the policy loss;
- ``_calculate_rewards`` first measures, with one no-grad teacher-forced pass of the current policy
  over ``prompt + completion prefix + gold answer slot`` through TRL's own fused, chunked
  ``_get_per_token_logps_and_entropies(compute_entropy=True)`` (no ``(batch, time, vocab)`` logits), the
  entropy H_m and chosen-token probability p_m at each guided token and p* of the gold answer, with
  the conventions of :mod:`emoomni.evaluate.stats`, and hands them to the rewards as the columns
  ``guided_stats`` and ``p_star``. Completions reach the rewards decoded with the guided tokens kept
  (TRL's own decoding drops special tokens, which would make every trace invalid).

Cost. TRL runs no policy forward before the rewards in the default on-policy setting
(``num_iterations = 1``), and p* needs the gold answer teacher-forced, which no TRL pass contains, so
the statistics pass is one extra no-grad forward per generation batch, over the valid traces only
(R_mod is 0 for every other completion, so nothing else needs it); with ``alpha = 0`` and
``track_modality = False`` it is skipped (vanilla GRPO, the benchmark's baseline).

Which distribution. TRL's fused head divides the logits by the sampling ``temperature``; every shipped
profile samples at 1.0, where H_m and p_m are those of the raw distribution, as in prediction.

Logging. Per logging step, besides TRL's own (each reward's mean and std, the total reward, KL,
clip ratios, completion lengths): ``dyme/H_vision``, ``dyme/H_audio``, ``dyme/p_vision``,
``dyme/p_audio``, ``dyme/w_vision``, ``dyme/w_audio``, ``dyme/p_star``, ``dyme/R_mod`` (valid traces),
``dyme/format_rate`` and ``dyme/accuracy``, to ``log_history.csv`` and to TensorBoard (``out/runs``).

vLLM. TRL's vLLM path sends only images as ``multi_modal_data`` (colocate and server modes), so it
cannot carry Qwen2.5-Omni video and audio; this trainer refuses it and generates with transformers.
A vLLM route would need a custom ``rollout_func`` that sends the video and audio itself, plus the
loss-side overrides here.

Several GPUs (DeepSpeed ZeRO-2, bf16), from the repository root::

    accelerate launch --config_file configs/accelerate/multi_gpu_zero2.yaml -m emoomni.train.grpo \\
        --model runs/paper/sft-.../merged --manifest /data/mer2025/manifest.jsonl --data-root /data/mer2025 \\
        --label-set mer2025 --out runs/paper/grpo-alpha0.1 --settings params/grpo-paper.yaml --alpha 0.1

On CPUs, ``accelerate launch --multi_gpu --num_processes 2 -m emoomni.train.grpo ...`` runs two processes
over gloo.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from emoomni.data.manifest import Sample
from emoomni.train.media_rows import collate_media, omni_rows, rope_positions
from emoomni.train.rewards import (MODALITIES, accuracy_score, format_score, modality_entropy_reward,
                                   modality_weights, reward_functions)
from emoomni.train.sft import LANGUAGE_MODEL_LINEARS, SCHEDULERS

log = logging.getLogger(__name__)

META = "emoomni_sft.json"  # the adapter metadata name load_sft reads (base model, settings)
RESUMABLE = ("max_steps", "epochs", "save_steps", "logging_steps", "save_total_limit", "dataloader_num_workers")


@dataclass(frozen=True)
class GRPOSettings:
    """DyME-GRPO settings. Every GRPO knob is explicit: TRL's defaults (``dapo`` loss, ``beta = 0``) differ."""

    alpha: float = 0.1
    """Weight of R_mod in R = R_fmt * R_acc + alpha * R_mod (0: vanilla GRPO)."""
    rewards: tuple[str, ...] = ("format_accuracy", "modality")
    """Reward functions by name (:data:`emoomni.train.rewards.REWARDS`); ``modality`` gets weight alpha, others 1."""
    track_modality: bool = True
    """Measure H_m, p_m and p* even when alpha is 0 (for the logs); False skips that pass then."""
    rank: int = 8
    """LoRA rank of the GRPO adapter."""
    lora_alpha: int = 32
    dropout: float = 0.0
    target_modules: str = LANGUAGE_MODEL_LINEARS
    train_guided_tokens: bool = True
    loss_type: str = "grpo"
    """TRL loss: ``grpo`` normalises per sequence as the paper's Eq. 10."""
    beta: float = 0.04
    """KL coefficient against the SFT model (the paper does not give its value)."""
    epsilon: float = 0.2
    """Clipping range of the probability ratio."""
    scale_rewards: str = "group"
    """Advantage normalisation: ``group`` divides by the group's reward std (the paper's Eq. 11)."""
    num_generations: int = 8
    """Completions per prompt (G)."""
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    """0: no top-k cut."""
    max_completion_length: int = 512
    num_iterations: int = 1
    """Policy updates per generation batch (mu); above 1, TRL computes old log-probs."""
    learning_rate: float = 1e-6
    lr_scheduler: str = "constant"
    warmup: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    per_device_batch_size: int = 8
    """Completions per device and micro-batch (a multiple of num_generations divides the groups evenly)."""
    gradient_accumulation_steps: int = 1
    epochs: float = 1.0
    max_steps: int = -1
    save_steps: int = 50
    save_total_limit: int | None = 3
    logging_steps: int = 1
    bf16: bool = False
    dtype: str = "float32"
    gradient_checkpointing: bool = False
    seed: int = 0
    max_train_samples: int | None = None
    """Prompts to train on (the first ones); None: all."""
    include_transcript: bool = True
    fps: float = 4.0
    frame_size: int = 112
    dataloader_num_workers: int = 0
    report_to: tuple[str, ...] = ("tensorboard",)
    """Trainer log sinks besides the CSV (``tensorboard`` writes ``out/runs``)."""


def reward_weights(settings: GRPOSettings) -> tuple[list[str], list[float]]:
    """The reward names and TRL weights: ``modality`` weighs alpha (dropped when alpha is 0 and not tracked).

    >>> reward_weights(GRPOSettings(alpha=0.1))
    (['format_accuracy', 'modality'], [1.0, 0.1])
    >>> reward_weights(GRPOSettings(alpha=0.0, track_modality=False))
    (['format_accuracy'], [1.0])
    """
    names = [n for n in settings.rewards if not (n == "modality" and settings.alpha == 0 and not settings.track_modality)]
    return names, [float(settings.alpha) if n == "modality" else 1.0 for n in names]


def grpo_rows(samples: Sequence[Sample], data_root: str | Path, label_set_name: str,
              settings: GRPOSettings) -> list[dict[str, str]]:
    """GRPO prompts: per sample the chat (system and user turns) as JSON, the gold label and the label set."""
    from emoomni.labels import label_set
    from emoomni.model import chat_messages

    labels = label_set(label_set_name).labels
    chosen = list(samples)[: settings.max_train_samples] if settings.max_train_samples else list(samples)
    rows = []
    for s in chosen:
        if s.label is None:
            raise ValueError(f"sample {s.id!r} has no gold label; GRPO's accuracy reward needs one")
        chat = chat_messages(s, labels, data_root, include_transcript=settings.include_transcript)
        rows.append({"id": s.id, "prompt": json.dumps(chat, ensure_ascii=False), "gold": s.label,
                     "label_set": label_set_name})
    return rows


def _thinker(model: Any) -> Any:
    """The thinker under DDP / accelerate (``.module``) and peft (``get_base_model``) wrappers."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _trainer_class() -> type:
    """:class:`DymeGRPOTrainer`, built on first use so that importing this module does not import TRL."""
    from trl import GRPOTrainer
    from trl.models import unwrap_model_for_generation
    from trl.models.utils import disable_gradient_checkpointing
    from trl.trainer.utils import pad

    from emoomni.evaluate.stats import _first_guided, _slots, _trimmed
    from emoomni.model import decode, guided_token_ids

    class DymeGRPOTrainer(GRPOTrainer):
        """GRPO whose prompts carry Qwen2.5-Omni video and audio everywhere, with R_mod's statistics (module docstring)."""

        def __init__(self, *args: Any, fps: float = 4.0, frame_size: int = 112, track_modality: bool = True,
                     **kwargs: Any) -> None:
            self.fps, self.frame_size, self.track_modality = fps, frame_size, track_modality
            self._gen_rows: list[dict] | None = None
            self._media_rows: list[dict] | None = None
            super().__init__(*args, **kwargs)
            if self.use_vllm or getattr(self, "use_transformers_continuous_batching", False):
                raise NotImplementedError("only the transformers generate() path carries Omni video and audio")
            self.guided_ids = {k.strip("[]"): int(v) for k, v in guided_token_ids(self.processing_class).items()}

        @contextlib.contextmanager
        def _media(self, rows: list[dict] | None):
            previous, self._media_rows = self._media_rows, rows
            try:
                yield
            finally:
                self._media_rows = previous

        def _tokenize_prompts(self, prompts: list):
            if not all(isinstance(p, str) for p in prompts):
                raise TypeError("GRPO prompts must be chat JSON strings (see emoomni.train.grpo.grpo_rows)")
            unique = list(dict.fromkeys(prompts))  # each prompt repeats num_generations times
            records = dict(zip(unique, omni_rows(self.processing_class, [json.loads(p) for p in unique],
                                                 self.fps, self.frame_size)))
            rows = [records[p] for p in prompts]
            self._gen_rows = self._media_rows = rows
            return [r["input_ids"].tolist() for r in rows], None, {}

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations,
                                  has_tool_images=False):
            rows = self._gen_rows
            if rows is None or len(rows) != len(prompt_ids):
                raise RuntimeError("no media for this generation batch")
            device = self.accelerator.device
            pad_id = self._tokenizer.pad_token_id
            eos = torch.tensor(self.eos_token_ids, device=device)
            completion_ids: list[list[int] | None] = [None] * len(rows)
            groups = [[i for i, r in enumerate(rows) if r["plain"] == flag] for flag in (False, True)]
            with (unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                              gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                              generation_kwargs=self.generation_kwargs,
                                              gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs
                                              ) as unwrapped,
                  torch.no_grad(),
                  self._dist.summon_full_params(self.model_wrapped, recurse=False)):
                for idx in (g for g in groups if g):
                    ids = [rows[i]["input_ids"] for i in idx]
                    input_ids = pad(ids, padding_value=pad_id, padding_side="left").to(device)
                    mask = pad([torch.ones_like(t) for t in ids], padding_value=0, padding_side="left").to(device)
                    out = unwrapped.generate(input_ids=input_ids, attention_mask=mask,
                                             **collate_media([rows[i] for i in idx], device),
                                             generation_config=self.generation_config)
                    comp = out[:, input_ids.size(1):]
                    is_eos = torch.isin(comp, eos)  # keep through the first end token, as TRL does
                    first = torch.where(is_eos.any(1), is_eos.int().argmax(1),
                                        torch.full_like(is_eos[:, 0], comp.size(1), dtype=torch.long))
                    for j, i in enumerate(idx):
                        completion_ids[i] = comp[j, : int(first[j]) + 1].tolist()
            return completion_ids, None

        def _generate_and_score_completions(self, inputs):
            try:
                output = super()._generate_and_score_completions(inputs)
                output["media"] = self._gen_rows  # a per-row list: shuffled and split with every other column
            finally:
                self._gen_rows = self._media_rows = None
            return output

        def _score_sequences(self, seqs: Sequence[Sequence[int]], rows: Sequence[dict]
                             ) -> tuple[torch.Tensor, torch.Tensor]:
            """Log-prob and entropy at each position of each teacher-forced sequence after its prompt (no grad)."""
            device = self.accelerator.device
            pad_id = self._tokenizer.pad_token_id
            prompts = [r["input_ids"] for r in rows]
            p_ids = pad(prompts, padding_value=pad_id, padding_side="left")
            p_mask = pad([torch.ones_like(t) for t in prompts], padding_value=0, padding_side="left")
            s_ids = pad([torch.tensor(list(x) or [pad_id], dtype=torch.long) for x in seqs], padding_value=pad_id,
                        padding_side="right")
            s_mask = pad([torch.tensor([1] * len(x) or [0]) for x in seqs], padding_value=0, padding_side="right")
            ids, mask = torch.cat([p_ids, s_ids], 1).to(device), torch.cat([p_mask, s_mask], 1).to(device)
            size = self.args.per_device_train_batch_size if self.model.training else self.args.per_device_eval_batch_size
            with torch.no_grad(), disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs):
                logps, entropies, _ = self._get_per_token_logps_and_entropies(
                    self.model, ids, mask, s_ids.size(1), batch_size=size, compute_entropy=True, media=rows)
            return logps.float().cpu(), entropies.float().cpu()

        def modality_statistics(self, completion_ids: Sequence[Sequence[int]], golds: Sequence[str | None],
                                needed: Sequence[bool] | None = None) -> tuple[list[dict], list[float | None]]:
            """Per completion ``{modality: {"entropy", "prob"} or None}`` at each guided token, and p* (or None).

            Only the completions marked in ``needed`` (default: all) are scored; the others get None
            everywhere. DyME-GRPO scores the valid traces only, as R_mod is 0 for every other one.
            """
            n = len(completion_ids)
            needed = [True] * n if needed is None else list(needed)
            chosen = [b for b in range(n) if needed[b]]
            guided_all: list[dict] = [{m: None for m in self.guided_ids} for _ in range(n)]
            p_star_all: list[float | None] = [None] * n
            if chosen:
                guided, p_star = self._statistics([completion_ids[b] for b in chosen], [golds[b] for b in chosen],
                                                  [self._gen_rows[b] for b in chosen])
                for k, b in enumerate(chosen):
                    guided_all[b], p_star_all[b] = guided[k], p_star[k]
            return guided_all, p_star_all

        def _statistics(self, completion_ids: Sequence[Sequence[int]], golds: Sequence[str | None],
                        media: Sequence[dict]) -> tuple[list[dict], list[float | None]]:
            """:meth:`modality_statistics` for every completion given, with its prompt's media records."""
            tok = self._tokenizer
            stops = set(self.eos_token_ids) | {tok.pad_token_id}
            width = max(1, max(len(c) for c in completion_ids))
            padded = torch.full((len(completion_ids), width), tok.pad_token_id, dtype=torch.long)
            for b, c in enumerate(completion_ids):
                padded[b, :len(c)] = torch.tensor(c, dtype=torch.long)
            rows, with_stop = _trimmed(padded, stops)
            seqs, kept_len, spans = _slots(tok, rows, golds)
            found = _first_guided(rows, self.guided_ids)
            logp, ent = self._score_sequences(seqs, media)
            if all(j < kept_len[b] for b, _, j in found):
                g_logp, g_ent = logp, ent  # every guided token lies before the answer slot: one pass
            else:
                g_logp, g_ent = self._score_sequences(with_stop, media)
            guided: list[dict] = [{n: None for n in self.guided_ids} for _ in rows]
            for b, name, j in found:
                guided[b][name] = {"entropy": float(g_ent[b, j]), "prob": math.exp(float(g_logp[b, j]))}
            p_star = [None if span is None else math.exp(sum(float(logp[b, j]) for j in range(*span)))
                      for b, span in enumerate(spans)]
            return guided, p_star

        def _log_mean(self, name: str, values: Sequence[float]) -> None:
            """Append the mean of ``values`` over every process to this step's metrics (skipped when none anywhere)."""
            local = torch.tensor([float(sum(values)), float(len(values))], device=self.accelerator.device)
            total = self.accelerator.reduce(local, reduction="sum")
            if total[1] > 0:
                mode = "train" if self.model.training else "eval"
                self._metrics[mode][name].append(float(total[0] / total[1]))

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            texts = decode(self.processing_class, [list(c) for c in completion_ids_list])
            golds = [x.get("gold") for x in inputs]
            fmt = [format_score(t) for t in texts]
            acc = [accuracy_score(t, g, x.get("label_set")) if g is not None else 0.0
                   for t, g, x in zip(texts, golds, inputs)]
            self._log_mean("dyme/format_rate", fmt)
            self._log_mean("dyme/accuracy", acc)
            if self.track_modality:
                start = time.perf_counter()
                guided, p_star = self.modality_statistics(completion_ids_list, golds, needed=[f > 0 for f in fmt])
                for x, g, p in zip(inputs, guided, p_star):
                    x["guided_stats"], x["p_star"] = g, p
                self._log_modality(guided, p_star, fmt)
                self._log_mean("dyme/stats_seconds", [time.perf_counter() - start])
            return super()._calculate_rewards(inputs, prompts, texts, completion_ids_list)

        def _log_modality(self, guided: list[dict], p_star: list[float | None], fmt: list[float]) -> None:
            """Per-step means of H_m, p_m, w_m, p* and R_mod over the valid traces."""
            valid = [(g, p) for g, p, f in zip(guided, p_star, fmt) if f and all(g[m] for m in MODALITIES)]
            for m in MODALITIES:
                self._log_mean(f"dyme/H_{m}", [g[m]["entropy"] for g, _ in valid])
                self._log_mean(f"dyme/p_{m}", [g[m]["prob"] for g, _ in valid])
            weights = [modality_weights({m: g[m]["entropy"] for m in MODALITIES},
                                        {m: g[m]["prob"] for m in MODALITIES}) for g, _ in valid]
            for m in MODALITIES:
                self._log_mean(f"dyme/w_{m}", [w[m] for w in weights])
            self._log_mean("dyme/p_star", [p for _, p in valid if p is not None])
            self._log_mean("dyme/R_mod", [modality_entropy_reward({m: g[m]["entropy"] for m in MODALITIES},
                                                                  {m: g[m]["prob"] for m in MODALITIES}, p)
                                          for g, p in valid])

        def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                               batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                               media=None, **image_kwargs):
            media = media if media is not None else self._media_rows
            if media is None:
                raise RuntimeError("a forward pass without the prompts' media: the loss would see another context")
            if any(v is not None for v in image_kwargs.values()):
                raise ValueError("TRL image inputs together with Omni media records")
            if len(media) != input_ids.size(0):
                raise ValueError(f"{len(media)} media records for {input_ids.size(0)} sequences")
            thinker = _thinker(model)
            batch_size = batch_size or input_ids.size(0)
            all_logps, all_entropies, all_aux = [], [], []
            for start in range(0, input_ids.size(0), batch_size):
                end = min(start + batch_size, input_ids.size(0))
                ids, mask, rows = input_ids[start:end], attention_mask[start:end], media[start:end]
                model_inputs = {"input_ids": ids, "attention_mask": mask, **collate_media(rows, ids.device)}
                pos = rope_positions(thinker, ids, mask, rows)
                if pos is not None:
                    model_inputs["position_ids"] = pos
                if compute_aux_loss:
                    model_inputs["output_router_logits"] = True
                labels = ids.masked_fill(mask == 0, -100)  # as TRL: scored tokens only in the completion
                labels[:, :-logits_to_keep] = -100
                with self.accelerator.autocast():
                    outputs = model(**model_inputs, labels=labels, fused_lm_head=True)
                all_logps.append(outputs.log_probs[:, -logits_to_keep:])
                if compute_entropy:
                    all_entropies.append(outputs.entropy[:, -logits_to_keep:])
                if compute_aux_loss:
                    all_aux.append(outputs.aux_loss)
            logps = torch.cat(all_logps, 0)
            entropies = torch.cat(all_entropies, 0) if compute_entropy else None
            aux = torch.stack(all_aux).mean() if compute_aux_loss else None
            return logps, entropies, aux

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if "media" not in inputs:
                raise KeyError("the batch lost its media records; the policy loss needs the prompts' video and audio")
            with self._media(inputs["media"]):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    return DymeGRPOTrainer


def grpo_config(out_dir: str | Path, settings: GRPOSettings, processor: Any, **extra: Any) -> Any:
    """The ``GRPOConfig`` with every setting that matters taken from ``settings`` (none left to TRL's defaults)."""
    from trl import GRPOConfig

    from emoomni.model import placeholder_ids

    s = settings
    if s.lr_scheduler not in SCHEDULERS:
        raise ValueError(f"lr_scheduler {s.lr_scheduler!r} is not one of {SCHEDULERS}")
    names, weights = reward_weights(s)
    if not torch.cuda.is_available():
        extra.setdefault("use_cpu", True)
    return GRPOConfig(
        output_dir=str(out_dir), loss_type=s.loss_type, beta=s.beta, epsilon=s.epsilon, scale_rewards=s.scale_rewards,
        num_generations=s.num_generations, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
        max_completion_length=s.max_completion_length, num_iterations=s.num_iterations,
        learning_rate=s.learning_rate, lr_scheduler_type=s.lr_scheduler, warmup_steps=s.warmup,
        weight_decay=s.weight_decay, max_grad_norm=s.max_grad_norm, per_device_train_batch_size=s.per_device_batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps, num_train_epochs=s.epochs, max_steps=s.max_steps,
        save_strategy="steps", save_steps=s.save_steps, save_total_limit=s.save_total_limit,
        logging_steps=s.logging_steps, logging_first_step=True, bf16=s.bf16, fp16=False,
        gradient_checkpointing=s.gradient_checkpointing, seed=s.seed, data_seed=s.seed, reward_weights=weights,
        disable_dropout=True, mask_truncated_completions=False, importance_sampling_level="token",
        remove_unused_columns=False, report_to=list(s.report_to),
        dataloader_num_workers=s.dataloader_num_workers, dataloader_pin_memory=torch.cuda.is_available(),
        generation_kwargs={"suppress_tokens": placeholder_ids(processor)}, **extra)


def make_grpo_trainer(model_path: str | os.PathLike, rows: list[dict], out_dir: str | Path, settings: GRPOSettings,
                      **extra_args: Any) -> Any:
    """Load the (merged SFT) model, add the GRPO LoRA adapter and build the trainer (no training)."""
    from datasets import Dataset
    from transformers import set_seed

    from emoomni.model import load_omni
    from emoomni.train.sft import SFTSettings, lora_model

    if not rows:
        raise ValueError("no GRPO prompts")
    s = settings
    model, processor = load_omni(model_path, dtype=s.dtype)
    set_seed(s.seed)
    lora = SFTSettings(rank=s.rank, alpha=s.lora_alpha, dropout=s.dropout, target_modules=s.target_modules,
                       train_guided_tokens=s.train_guided_tokens)
    model = lora_model(model, processor, lora)
    args = grpo_config(out_dir, s, processor, **extra_args)
    names, _ = reward_weights(s)
    trainer = _trainer_class()(model=model, reward_funcs=reward_functions(names), args=args,
                               train_dataset=Dataset.from_list(rows), processing_class=processor,
                               fps=s.fps, frame_size=s.frame_size, track_modality=s.track_modality or s.alpha != 0)
    from emoomni.train.collator import data_key

    trainer.emoomni_meta = {"base_model": str(Path(model_path).resolve()) if Path(model_path).exists()
                            else str(model_path), "data_key": data_key([{"messages": r["prompt"] + r["gold"]}
                                                                        for r in rows]),
                            "settings": dataclasses.asdict(s), "n_train": len(rows), "stage": "grpo"}
    return trainer


def train_grpo(model_path: str | os.PathLike, samples: Sequence[Sample], data_root: str | Path, label_set_name: str,
               out_dir: str | Path, settings: GRPOSettings) -> Path:
    """DyME-GRPO of ``model_path`` (the merged SFT model) on ``samples``; returns the adapter directory.

    Checkpoints every ``save_steps`` in ``out_dir``; a second call resumes from the newest complete one
    (after a kill, or with a larger ``max_steps``) and refuses a directory of other settings or data; a
    finished run with the same settings and data is returned as is. The adapter lands in
    ``out_dir/adapter`` (loadable with :func:`emoomni.train.sft.load_sft`), the log in
    ``out_dir/log_history.csv`` and TensorBoard events in ``out_dir/runs``.
    """
    from emoomni.train.collator import data_key, finished, run_training
    from emoomni.train.sft import _check_out_dir, save_adapter

    out = Path(out_dir)
    rows = grpo_rows(samples, data_root, label_set_name, settings)
    key = data_key([{"messages": r["prompt"] + r["gold"]} for r in rows])
    done = finished(out, settings, key, "adapter", META)
    if done is not None:
        log.info("GRPO: reusing %s", done)
        return done
    base = str(Path(model_path).resolve()) if Path(model_path).exists() else str(model_path)
    _check_out_dir(out, {"base_model": base, "data_key": key, "settings": dataclasses.asdict(settings)}, write=False)
    trainer = make_grpo_trainer(model_path, rows, out, settings)
    _check_out_dir(out, trainer.emoomni_meta, write=trainer.is_world_process_zero())
    trainer.accelerator.wait_for_everyone()
    state = run_training(trainer, out)
    return save_adapter(trainer, out / "adapter", {k: state[k] for k in ("resumed_from", "start_step")})


def load_settings(path: str | Path | None, **overrides: Any) -> GRPOSettings:
    """GRPOSettings from a YAML mapping of its fields (unknown keys raise), with overrides on top."""
    from emoomni.config import settings_file

    return settings_file(GRPOSettings, path, **overrides)


def main(argv: Sequence[str] | None = None) -> Path:
    """Command line: ``python -m emoomni.train.grpo --model M --manifest F --data-root D --out O --alpha A``."""
    from emoomni.data.manifest import read_manifest

    p = argparse.ArgumentParser(prog="python -m emoomni.train.grpo", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="the SFT model merged into its base (a directory or hub id)")
    p.add_argument("--manifest", required=True, help="manifest JSONL of the training clips (gold labels)")
    p.add_argument("--data-root", required=True, help="directory the manifest's media paths are relative to")
    p.add_argument("--out", required=True, help="run directory (checkpoints, logs, adapter/)")
    p.add_argument("--label-set", default="synthemo", help="candidate labels (a name in emoomni.labels)")
    p.add_argument("--split", default="train", help="manifest split to train on ('' for all)")
    p.add_argument("--settings", help="YAML file of GRPOSettings fields")
    p.add_argument("--alpha", type=float, help="weight of R_mod (0: vanilla GRPO); overrides the settings")
    p.add_argument("--max-steps", type=int, help="optimizer steps (overrides the settings)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = load_settings(a.settings, alpha=a.alpha, max_steps=a.max_steps)
    samples = [s for s in read_manifest(a.manifest, a.data_root) if not a.split or s.split == a.split]
    adapter = train_grpo(a.model, samples, a.data_root, a.label_set, a.out, settings)
    log.info("adapter saved to %s", adapter)
    return adapter


if __name__ == "__main__":
    main()
