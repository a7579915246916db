"""The LoRA adapter SFT and GRPO train: language-model linears plus trainable guided (and answer) token rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from peft import LoraConfig, get_peft_model
from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

from emoomni.model import answer_token_ids, guided_token_ids
from emoomni.train.settings import LoRASettings


def trainable_token_ids(processor: Any, settings: LoRASettings, labels: Sequence[str] = ()) -> list[int]:
    """The token ids whose embedding and lm_head rows train: guided tokens and, when asked, the answer tokens."""
    ids = set(guided_token_ids(processor).values()) if settings.train_guided_tokens else set()
    if settings.train_answer_tokens:
        if not labels:
            raise ValueError("train_answer_tokens needs the label set whose answers are trained")
        ids |= set(answer_token_ids(processor, labels))
    return sorted(ids)


def lora_model(model: Any, processor: Any, settings: LoRASettings, labels: Sequence[str] = ()) -> Any:
    """Wrap the thinker with the LoRA adapter and the trainable token rows (peft ``trainable_token_indices``)."""
    ids = trainable_token_ids(processor, settings, labels)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.lora_alpha, lora_dropout=settings.dropout,
                        target_modules=settings.target_modules, task_type="CAUSAL_LM",
                        trainable_token_indices={"embed_tokens": ids, "lm_head": ids} if ids else None)
    peft_model = get_peft_model(model, config)
    _fused_head_fix(peft_model)
    return peft_model


def _fused_head_fix(model: Any) -> None:
    """TRL's fused LM head reads ``lm_head.bias``, which peft's ``TrainableTokensWrapper`` lacks: set it to None."""
    head = model.get_output_embeddings()
    if head is not None and type(head).__name__ == "TrainableTokensWrapper" and "bias" not in vars(head):
        head.bias = None


@contextlib.contextmanager
def merged_token_rows(model: Any) -> Iterator[Any]:
    """Write the trainable token rows into their embedding and lm_head for the block, then restore them exactly.

    Unmerged, peft's ``TrainableTokensLayer`` copies the whole weight (152,064 x 3,584 for the 7B, two of them)
    on every forward call, once per generated token; for passes without gradients (generation, scoring)
    this writes the rows once instead. Both steps are exact row copies, so outputs and weights are unchanged.
    """
    layers = [m for m in model.modules() if isinstance(m, TrainableTokensLayer) and not m.merged]
    for layer in layers:
        layer.merge()
    try:
        yield model
    finally:
        for layer in layers:
            if layer.merged:
                layer.unmerge()
