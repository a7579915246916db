"""The multimodal collator and the trainer plumbing shared by SFT and the description pre-training.

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

The plumbing: :func:`training_args` (one ``SFTConfig`` with every TRL default that matters set
explicitly), :func:`make_trainer` (TRL ``SFTTrainer`` with this collator and ``skip_prepare_dataset``),
:func:`run_training` (resume from the newest complete checkpoint, log CSV) and :func:`finished` (the
cache check on a finished run's metadata).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoomni.model import assistant_labels, omni_inputs

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
    size: int = 112
    """Largest frame edge handed to :func:`emoomni.model.omni_inputs`."""

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


def training_args(out_dir: Path, *, learning_rate: float, lr_scheduler: str, warmup: float, weight_decay: float,
                  max_grad_norm: float, per_device_batch_size: int, gradient_accumulation_steps: int, epochs: float,
                  max_steps: int, save_steps: int, save_total_limit: int | None, logging_steps: int, bf16: bool,
                  gradient_checkpointing: bool, seed: int, eval_steps: int | None, dataloader_num_workers: int = 0,
                  **extra: Any) -> Any:
    """The ``SFTConfig`` both trainers use: custom collator, no dataset preparation, every TRL default set.

    A distributed launch (``WORLD_SIZE`` > 1) on a machine without CUDA runs on the CPU over gloo
    (``use_cpu``); without it accelerate would see no accelerator and silently train each process alone.
    """
    import torch
    from trl import SFTConfig

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        extra.setdefault("use_cpu", True)

    return SFTConfig(
        output_dir=str(out_dir), learning_rate=learning_rate, lr_scheduler_type=lr_scheduler, warmup_steps=warmup,
        weight_decay=weight_decay, max_grad_norm=max_grad_norm, per_device_train_batch_size=per_device_batch_size,
        per_device_eval_batch_size=per_device_batch_size, gradient_accumulation_steps=gradient_accumulation_steps,
        num_train_epochs=epochs, max_steps=max_steps, save_strategy="steps", save_steps=save_steps,
        save_total_limit=save_total_limit, logging_steps=logging_steps, logging_first_step=True,
        eval_strategy="steps" if eval_steps else "no", eval_steps=eval_steps or None, prediction_loss_only=True,
        bf16=bf16, fp16=False, gradient_checkpointing=gradient_checkpointing, seed=seed, data_seed=seed,
        remove_unused_columns=False, dataset_kwargs={"skip_prepare_dataset": True}, max_length=None,
        packing=False, padding_free=False, assistant_only_loss=False, completion_only_loss=False, loss_type="nll",
        report_to="none", dataloader_num_workers=dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(), **extra)


def make_trainer(model: Any, processor: Any, rows: list[dict], eval_rows: list[dict] | None, args: Any,
                 fps: float, size: int) -> Any:
    """An ``SFTTrainer`` over chat rows with :class:`OmniCollator` (TRL's text preparation skipped)."""
    from datasets import Dataset
    from trl import SFTTrainer

    if not rows:
        raise ValueError("no training rows")
    return SFTTrainer(model=model, args=args, data_collator=OmniCollator(processor, fps=fps, size=size),
                      train_dataset=Dataset.from_list(rows),
                      eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None, processing_class=processor)


def data_key(rows: Sequence[dict]) -> str:
    """A hash of exactly what is trained on (chats, answers, media paths)."""
    h = hashlib.sha256()
    for r in rows:
        h.update(r["messages"].encode())
    return h.hexdigest()[:16]


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoint-N`` (its ``trainer_state.json`` written last) in ``out_dir``, or None."""
    out = Path(out_dir)
    if not out.is_dir():
        return None
    done = [p for p in out.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
            and (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[-1])) if done else None


def finished(out_dir: str | Path, settings: Any, data: str, subdir: str, meta_name: str) -> Path | None:
    """The finished result under ``out_dir/subdir`` when its metadata has these exact settings and data."""
    path = Path(out_dir) / subdir / meta_name
    if not path.exists():
        return None
    meta = json.loads(path.read_text())
    if meta.get("settings") == json.loads(json.dumps(dataclasses.asdict(settings))) and meta.get("data_key") == data:
        return path.parent
    return None


def run_training(trainer: Any, out: Path) -> dict:
    """Train, resuming from the newest complete checkpoint; write the log CSV; returns what happened."""
    import pandas as pd

    last = latest_checkpoint(out)
    start = json.loads((last / "trainer_state.json").read_text())["global_step"] if last else 0
    if last:
        log.info("resuming from %s (step %d)", last, start)
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    state = {"resumed_from": last.name if last else None, "start_step": start,
             "global_step": trainer.state.global_step, "metrics": result.metrics}
    if trainer.is_world_process_zero():
        pd.DataFrame(trainer.state.log_history).to_csv(out / "log_history.csv", index=False)
        (out / "train_state.json").write_text(json.dumps(state, indent=1, default=str))
    return state
