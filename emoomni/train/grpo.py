"""DyME-GRPO on TRL's ``GRPOTrainer``: video and audio through generation and the policy loss, R_mod from the policy.

What trains. A fresh peft LoRA adapter (language-model linears, guided-token rows through
``trainable_token_indices``, as in SFT) on the SFT model merged into its base
(:func:`emoomni.train.sft.merge_sft`), so that with ``beta > 0`` TRL's reference policy (the adapter
switched off) is the SFT model itself. The reward is ``R = R_fmt * R_acc + alpha * R_mod``
(:mod:`emoomni.train.rewards`): TRL's weighted sum of the ``format_accuracy`` reward (weight 1) and the
``modality`` reward (weight ``alpha``); ``alpha = 0`` is vanilla GRPO from the same code.

What :class:`emoomni.train.grpo_trainer.DymeGRPOTrainer` changes in TRL 1.16 (which drops every Omni media field on the way to the
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
  the conventions of :mod:`emoomni.model.guided_stats`, and hands them to the rewards as the columns
  ``guided_stats`` and ``p_star``. Completions reach the rewards decoded with the guided tokens kept
  (TRL's own decoding drops special tokens, which would make every trace invalid).

Cost. Generation keeps its raw per-step logits (``output_logits``), and H_m, p_m and the p* of a
completion that answered the gold label are read off them. Only p* of a valid trace with another
answer needs the gold answer teacher-forced, which no TRL pass contains: one extra no-grad forward
over those traces alone (R_mod is 0 for every invalid completion, so nothing else needs it). Both
ways agree to 1e-5 (``tests/test_grpo.py``); ``modality_statistics(..., from_generation=False)``
scores everything teacher-forced. The kept logits cost steps x completions x vocabulary floats for the
length of one generation call (at the 7B's 151,936 tokens, 192 steps and 8 completions: 0.93 GB).
With ``alpha = 0`` and ``track_modality = False`` nothing is kept or scored (vanilla GRPO, the
benchmark's baseline).

Which distribution. TRL's fused head divides the logits by the sampling ``temperature``; every shipped
profile samples at 1.0, where H_m and p_m are those of the raw distribution, as in prediction.

Where H_m is read is ``entropy_site`` (:mod:`emoomni.model.entropy_sites`): ``emitted`` (the default,
the distribution that produced the guided token), ``following`` (the one after it) or ``section`` (the
mean over the section it opens); p_m is always the chosen guided token's probability. ``order``
(``fixed`` or ``free``) is the section order R_fmt accepts, the SFT model's own.

Logging. Per logging step, besides TRL's own (each reward's mean and std, the total reward, KL,
clip ratios, completion lengths): ``dyme/H_m`` (both modalities), ``dyme/H_vision``, ``dyme/H_audio``,
``dyme/p_vision``, ``dyme/p_audio``, ``dyme/w_vision``, ``dyme/w_audio``, ``dyme/p_star``, ``dyme/R_mod``
(valid traces), ``dyme/format_rate``, ``dyme/accuracy``, ``dyme/constant_task_groups`` (the fraction of
groups whose R_fmt x R_acc is constant) and ``dyme/advantage_share_alpha`` (the share of the summed
absolute advantage the alpha term decides, with TRL's ``scale_rewards``;
:func:`emoomni.train.advantages.alpha_advantage_share`), to ``log_history.csv`` and to TensorBoard
(``out/runs``).

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
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from emoomni import ledger
from emoomni.data.manifest import Sample, read_manifest
from emoomni.labels import label_set
from emoomni.model import chat_messages, load_omni, placeholder_ids
from emoomni.model.entropy_sites import check_site
from emoomni.omnicot import check_order
from emoomni.settings import key_dict, settings_file, when_set
from emoomni.train.grpo_trainer import DymeGRPOTrainer
from emoomni.train.lora import lora_model
from emoomni.train.rewards import reward_functions
from emoomni.train.runs import (ADAPTER_META, ProgressReport, check_out_dir, data_key, finished, run_training,
                                save_adapter, source_id)
from emoomni.train.settings import LoRASettings, TrainerSettings

log = logging.getLogger(__name__)

SCALE_REWARDS = ("group", "batch", "none")
"""TRL's advantage normalisations (``GRPOConfig.scale_rewards``)."""



@dataclass(frozen=True)
class GRPOSettings(TrainerSettings, LoRASettings):
    """DyME-GRPO settings. Every GRPO knob is explicit: TRL's defaults (``dapo`` loss, ``beta = 0``) differ."""

    alpha: float = 0.1
    """Weight of R_mod in R = R_fmt * R_acc + alpha * R_mod (0: vanilla GRPO)."""
    rewards: tuple[str, ...] = ("format_accuracy", "modality")
    """Reward functions by name (:data:`emoomni.train.rewards.REWARDS`); ``modality`` gets weight alpha, others 1."""
    track_modality: bool = True
    """Measure H_m, p_m and p* even when alpha is 0 (for the logs); False skips that pass then."""
    dropout: float = 0.0
    """LoRA dropout of the GRPO adapter (off: the policy's log-probabilities stay deterministic)."""
    loss_type: str = "grpo"
    """TRL loss: ``grpo`` normalises per sequence as the paper's Eq. 10."""
    beta: float = 0.04
    """KL coefficient against the SFT model (the paper does not give its value)."""
    epsilon: float = 0.2
    """Clipping range of the probability ratio."""
    scale_rewards: str = "group"
    """Advantage normalisation (TRL's): ``group`` divides by the group's reward std (the paper's Eq. 11),
    ``batch`` by the batch's, ``none`` only centres on the group mean."""
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
    per_device_batch_size: int = 8
    """Completions per device and micro-batch (a multiple of num_generations divides the groups evenly)."""
    dtype: str = "float32"
    """Dtype the SFT model loads in."""
    max_train_samples: int | None = None
    """Prompts to train on (the first ones); None: all."""
    report_to: tuple[str, ...] = ("tensorboard",)
    """Trainer log sinks besides the CSV (``tensorboard`` writes ``out/runs``)."""
    entropy_site: str = when_set("emitted")
    """Where H_m is read: ``emitted``, ``following`` or ``section`` (:mod:`emoomni.model.entropy_sites`)."""
    order: str = when_set("fixed")
    """Section order R_fmt accepts: ``fixed`` or ``free`` (:data:`emoomni.omnicot.ORDERS`); the SFT model's own."""

    def __post_init__(self) -> None:
        TrainerSettings.__post_init__(self)
        LoRASettings.__post_init__(self)
        check_site(self.entropy_site)
        check_order(self.order)
        if self.scale_rewards not in SCALE_REWARDS:
            raise ValueError(f"unknown scale_rewards {self.scale_rewards!r}; choose one of {', '.join(SCALE_REWARDS)}")


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
    """GRPO prompts: per sample the chat (system and user turns) as JSON, the gold label, the label set and the
    section order R_fmt accepts (a column, so that every reward function reads it)."""
    labels = label_set(label_set_name).labels
    chosen = list(samples)[: settings.max_train_samples] if settings.max_train_samples else list(samples)
    rows = []
    for s in chosen:
        if s.label is None:
            raise ValueError(f"sample {s.id!r} has no gold label; GRPO's accuracy reward needs one")
        chat = chat_messages(s, labels, data_root, include_transcript=settings.include_transcript)
        rows.append({"id": s.id, "prompt": json.dumps(chat, ensure_ascii=False), "gold": s.label,
                     "label_set": label_set_name, "order": settings.order})
    return rows


def grpo_config(out_dir: str | Path, settings: GRPOSettings, processor: Any, weights: Sequence[float],
                **extra: Any) -> Any:
    """The ``GRPOConfig`` with every setting that matters taken from ``settings`` (none left to TRL's defaults).

    ``weights`` are the reward weights of :func:`reward_weights`, in the order of the trainer's reward functions.
    """
    from trl import GRPOConfig

    s = settings
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
        gradient_checkpointing=s.gradient_checkpointing, seed=s.seed, data_seed=s.seed, reward_weights=list(weights),
        disable_dropout=True, mask_truncated_completions=False, importance_sampling_level="token",
        remove_unused_columns=False, report_to=list(s.report_to),
        dataloader_num_workers=s.dataloader_num_workers, dataloader_pin_memory=torch.cuda.is_available(),
        generation_kwargs={"suppress_tokens": placeholder_ids(processor)}, **extra)


def rows_key(rows: Sequence[dict]) -> str:
    """A hash of exactly what GRPO trains on: each prompt's chat and gold label."""
    return data_key([{"messages": r["prompt"] + r["gold"]} for r in rows])


def make_grpo_trainer(model_path: str | os.PathLike, rows: list[dict], out_dir: str | Path, settings: GRPOSettings,
                      loaded: tuple[Any, Any] | None = None, **extra_args: Any) -> Any:
    """Load the (merged SFT) model, add the GRPO LoRA adapter and build the trainer (no training).

    ``loaded`` is a ``(model, processor)`` pair already in memory, used instead of loading ``model_path``.
    """
    from datasets import Dataset
    from transformers import set_seed

    if not rows:
        raise ValueError("no GRPO prompts")
    s = settings
    model, processor = loaded if loaded is not None else load_omni(model_path, dtype=s.dtype)
    set_seed(s.seed)
    labels = [c for name in dict.fromkeys(r["label_set"] for r in rows) for c in label_set(name).labels]
    model = lora_model(model, processor, s, labels)
    names, weights = reward_weights(s)
    args = grpo_config(out_dir, s, processor, weights, **extra_args)
    trainer = DymeGRPOTrainer(model=model, reward_funcs=reward_functions(names), args=args,
                               train_dataset=Dataset.from_list(rows), processing_class=processor,
                               fps=s.fps, frame_size=s.frame_size, track_modality=s.track_modality or s.alpha != 0,
                               entropy_site=s.entropy_site, callbacks=[ProgressReport(f"GRPO alpha={s.alpha:g} steps")])
    trainer.emoomni_meta = {"base_model": source_id(model_path), "data_key": rows_key(rows),
                            "settings": key_dict(s), "n_train": len(rows), "stage": "grpo"}
    return trainer


def train_grpo(model_path: str | os.PathLike, samples: Sequence[Sample], data_root: str | Path, label_set_name: str,
               out_dir: str | Path, settings: GRPOSettings) -> Path:
    """DyME-GRPO of ``model_path`` (the merged SFT model) on ``samples``; returns the adapter directory.

    Checkpoints every ``save_steps`` in ``out_dir``; a second call resumes from the newest complete one
    (after a kill, or with a larger ``max_steps``) and refuses a directory of other settings or data; a
    finished run with the same settings and data is returned as is. The adapter lands in
    ``out_dir/adapter`` (loadable with :func:`emoomni.train.sft.load_sft`), the log in
    ``out_dir/log_history.csv`` and TensorBoard events in ``out_dir/runs``. A finished run counts only
    when it started from this ``model_path``: a stale run of another SFT model trains again.
    """
    out = Path(out_dir)
    rows = grpo_rows(samples, data_root, label_set_name, settings)
    key = rows_key(rows)
    done = finished(out, settings, key, model_path, "adapter", ADAPTER_META)
    if done is not None:
        ledger.note(f"GRPO alpha={settings.alpha:g}", done, reused=True)
        return done
    check_out_dir(out, {"base_model": source_id(model_path), "data_key": key, "settings": key_dict(settings)},
                  write=False)
    trainer = make_grpo_trainer(model_path, rows, out, settings)
    check_out_dir(out, trainer.emoomni_meta, write=trainer.is_world_process_zero())
    trainer.accelerator.wait_for_everyone()
    state = run_training(trainer, out)
    adapter = save_adapter(trainer, out / "adapter", {k: state[k] for k in ("resumed_from", "start_step")})
    ledger.note(f"GRPO alpha={settings.alpha:g}", adapter, reused=False)
    return adapter


def load_settings(path: str | Path | None, **overrides: Any) -> GRPOSettings:
    """GRPOSettings from a YAML mapping of its fields (unknown keys raise), with overrides on top."""
    return settings_file(GRPOSettings, path, **overrides)


def main(argv: Sequence[str] | None = None) -> Path:
    """Command line: ``python -m emoomni.train.grpo --model M --manifest F --data-root D --out O --alpha A``."""
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
