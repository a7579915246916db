"""The multimodal collator and the ``SFTTrainer`` built on it, shared by SFT and the description pre-training.

A dataset row is ``{"id": sample id, "messages": JSON of the full chat}``: the chat (system, user with
absolute media paths, assistant answer) is built once by :func:`emoomni.model.chat_messages` and kept
as a JSON string, so that Hugging Face ``datasets`` cannot add None-valued keys to its content items.
The collator decodes the media and runs the processor per batch
(:func:`emoomni.model.omni_inputs`, right padding, no generation prompt), masks everything but the
last assistant turn (:func:`emoomni.model.assistant_labels`) and returns every model input the
processor made: ``input_ids``, ``attention_mask``, ``labels``, ``pixel_values_videos``,
``video_grid_thw``, ``video_second_per_grid``, ``input_features``, ``feature_attention_mask``,
``use_audio_in_video`` and, for batches mixing audio-in-video clips with plain videos,
``position_ids``. Nothing is truncated: cutting a sequence would cut media placeholders away from
their features.

:func:`training_args` makes one ``SFTConfig`` from :class:`emoomni.train.settings.TrainerSettings` with
every TRL default that matters set explicitly; :func:`make_trainer` builds TRL's ``SFTTrainer`` with this
collator and ``skip_prepare_dataset``. Run bookkeeping (resuming, caching) is :mod:`emoomni.train.runs`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoomni.model import assistant_labels, omni_inputs
from emoomni.train.runs import ProgressReport
from emoomni.train.settings import TrainerSettings

log = logging.getLogger(__name__)

def chat_row(sample_id: str, messages: Sequence[dict]) -> dict[str, str]:
    """One dataset row: the sample id and its chat messages as JSON.

    >>> chat_row("s1", [{"role": "user", "content": [{"type": "text", "text": "hi"}]}])["id"]
    's1'
    """
    return {"id": sample_id, "messages": json.dumps(list(messages), ensure_ascii=False)}


@dataclass
class OmniCollator:
    """Collate chat rows into Qwen2.5-Omni thinker inputs with assistant-only labels (see the module docstring)."""

    processor: Any
    fps: float = 4.0
    """Frame sampling rate handed to :func:`emoomni.model.omni_inputs`."""
    size: int | None = 112
    """Largest frame edge handed to :func:`emoomni.model.omni_inputs` (None: the processor's own bounds)."""

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The batch: processor outputs plus ``labels`` (-100 outside the last assistant turn and on padding)."""
        chats = [json.loads(r["messages"]) if isinstance(r["messages"], str) else r["messages"] for r in rows]
        for chat, row in zip(chats, rows):
            if not chat or chat[-1].get("role") != "assistant":
                raise ValueError(f"row {row.get('id')!r} has no assistant turn to learn from")
        inputs = omni_inputs(self.processor, chats, add_generation_prompt=False, fps=self.fps, size=self.size,
                             padding_side="right")
        batch = dict(inputs)
        batch["labels"] = assistant_labels(self.processor, batch["input_ids"])
        batch["labels"][batch["attention_mask"] == 0] = -100
        return batch


def training_args(out_dir: Path, settings: TrainerSettings, eval_steps: int | None = None, **extra: Any) -> Any:
    """The ``SFTConfig`` both trainers use: custom collator, no dataset preparation, every TRL default set.

    ``extra`` adds arguments or replaces the ones derived from ``settings``.

    A distributed launch (``WORLD_SIZE`` > 1) on a machine without CUDA runs on the CPU over gloo
    (``use_cpu``); without it accelerate would see no accelerator and silently train each process alone.
    """
    import torch
    from trl import SFTConfig

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        extra.setdefault("use_cpu", True)

    s = settings
    return SFTConfig(**{**dict(
        output_dir=str(out_dir), learning_rate=s.learning_rate, lr_scheduler_type=s.lr_scheduler, warmup_steps=s.warmup,
        weight_decay=s.weight_decay, max_grad_norm=s.max_grad_norm, per_device_train_batch_size=s.per_device_batch_size,
        per_device_eval_batch_size=s.per_device_batch_size, gradient_accumulation_steps=s.gradient_accumulation_steps,
        num_train_epochs=s.epochs, max_steps=s.max_steps, save_strategy="steps", save_steps=s.save_steps,
        save_total_limit=s.save_total_limit, logging_steps=s.logging_steps, logging_first_step=True,
        eval_strategy="steps" if eval_steps else "no", eval_steps=eval_steps or None, prediction_loss_only=True,
        bf16=s.bf16, fp16=False, gradient_checkpointing=s.gradient_checkpointing, seed=s.seed, data_seed=s.seed,
        remove_unused_columns=False, dataset_kwargs={"skip_prepare_dataset": True}, max_length=None,
        packing=False, padding_free=False, assistant_only_loss=False, completion_only_loss=False, loss_type="nll",
        report_to="none", dataloader_num_workers=s.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available()), **extra})


def make_trainer(model: Any, processor: Any, rows: list[dict], eval_rows: list[dict] | None, args: Any,
                 fps: float, size: int | None) -> Any:
    """An ``SFTTrainer`` over chat rows with :class:`OmniCollator` (TRL's text preparation skipped)."""
    from datasets import Dataset
    from trl import SFTTrainer

    if not rows:
        raise ValueError("no training rows")
    return SFTTrainer(model=model, args=args, data_collator=OmniCollator(processor, fps=fps, size=size),
                      train_dataset=Dataset.from_list(rows),
                      eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None, processing_class=processor,
                      callbacks=[ProgressReport("training steps")])
