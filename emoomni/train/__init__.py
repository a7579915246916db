"""Training: the tiny base's description pre-training, cold-start SFT (LoRA, TRL), the shared collator.

- :func:`pretrain_base` (:mod:`emoomni.train.pretrain`): full-parameter description pre-training of the
  tiny thinker on SynthEmo's ``pretrain`` split, so that the default profile's "vanilla" is a base
  that perceives.
- :func:`train_sft`, :func:`load_sft`, :func:`merge_sft`, :class:`SFTSettings` (:mod:`emoomni.train.sft`):
  cold-start SFT with LoRA and trainable guided-token rows on OmniCoT records in one of the styles.
- :class:`OmniCollator` (:mod:`emoomni.train.collator`): chat rows -> thinker inputs with video and audio
  features and assistant-only labels.

Names are imported on first use, so that importing a light submodule does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "OmniCollator": "emoomni.train.collator",
    "chat_row": "emoomni.train.collator",
    "PretrainSettings": "emoomni.train.pretrain",
    "pretrain_base": "emoomni.train.pretrain",
    "SFTSettings": "emoomni.train.sft",
    "train_sft": "emoomni.train.sft",
    "load_sft": "emoomni.train.sft",
    "merge_sft": "emoomni.train.sft",
    "make_sft_trainer": "emoomni.train.sft",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'emoomni.train' has no attribute {name!r}")
