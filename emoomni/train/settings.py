"""The two settings blocks every trainer shares: how it trains (:class:`TrainerSettings`) and its LoRA adapter.

:class:`emoomni.train.pretrain.PretrainSettings` is a :class:`TrainerSettings`;
:class:`emoomni.train.sft.SFTSettings` and :class:`emoomni.train.grpo.GRPOSettings` are both blocks plus
their own fields. Each field is declared once, here, and a trainer only changes a default where its
stage needs another one. ``alpha`` is never a LoRA setting: it is DyME-GRPO's reward weight; the LoRA
scale is ``lora_alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")

LANGUAGE_MODEL_LINEARS = r".*language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
"""LoRA targets: every linear layer of the thinker's language model, nothing in the audio or vision encoders."""


@dataclass(frozen=True)
class TrainerSettings:
    """Optimiser, schedule, batches, checkpoints, precision, seed and input rendering; the paper's SFT defaults."""

    learning_rate: float = 1e-5
    """Peak learning rate (AdamW)."""
    lr_scheduler: str = "constant"
    """One of :data:`SCHEDULERS`."""
    warmup: float = 0.0
    """Warm-up: a fraction of the steps when below 1, else a number of steps."""
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    per_device_batch_size: int = 4
    """Rows per device and micro-batch."""
    gradient_accumulation_steps: int = 1
    epochs: float = 1.0
    """Passes over the training rows (ignored when ``max_steps`` > 0)."""
    max_steps: int = -1
    """Optimizer steps to train for; -1 trains for ``epochs``."""
    save_steps: int = 50
    """A checkpoint every this many steps (what a killed run resumes from)."""
    save_total_limit: int | None = 3
    """Checkpoints kept (the newest); None keeps all."""
    logging_steps: int = 1
    bf16: bool = False
    """bf16 mixed precision (GPUs)."""
    gradient_checkpointing: bool = False
    seed: int = 0
    include_transcript: bool = True
    """Show the transcript in the user turn."""
    fps: float = 4.0
    """Video frame sampling rate for the processor."""
    frame_size: int | None = 112
    """Largest frame edge for the processor; None: the processor's own frame bounds (the 7B's, 128 to 768 merged
    patches a frame pair, as ``qwen-omni-utils`` reads video)."""
    dataloader_num_workers: int = 0

    def __post_init__(self) -> None:
        if self.lr_scheduler not in SCHEDULERS:
            raise ValueError(f"unknown lr_scheduler {self.lr_scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        if self.per_device_batch_size <= 0 or self.gradient_accumulation_steps <= 0:
            raise ValueError("per_device_batch_size and gradient_accumulation_steps must be positive")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError("set max_steps > 0 or epochs > 0")


@dataclass(frozen=True)
class LoRASettings:
    """The LoRA adapter on the language model and the token rows that train beside it (the paper: r 8, alpha 32)."""

    rank: int = 8
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scale: the update is multiplied by lora_alpha / rank."""
    dropout: float = 0.05
    """LoRA dropout."""
    target_modules: str = LANGUAGE_MODEL_LINEARS
    """Regex (full match on module names) choosing the LoRA layers; keep it inside the language model."""
    train_guided_tokens: bool = True
    """Train the guided tokens' embedding and lm_head rows (peft ``trainable_token_indices``)."""
    train_answer_tokens: bool = False
    """Also train the rows of the tokens the answers ``<answer>label</answer>`` are made of. A real base
    knows them; the tiny base never sees them before SFT, and their random lm_head rows left every SFT
    model on one label while its own analysis named others."""

    def __post_init__(self) -> None:
        if self.rank <= 0:
            raise ValueError("rank must be positive")
