"""Guided tokens, placeholder suppression, generation defaults and loading the thinker with its processor."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

from emoomni.omnicot import GUIDED_TOKENS
from emoomni.pretrained import load_pretrained, load_processor

log = logging.getLogger(__name__)

# The processor attributes naming the multimodal placeholder and delimiter tokens.
PLACEHOLDER_ATTRS = ("image_token", "video_token", "audio_token", "vision_bos_token", "vision_eos_token",
                     "audio_bos_token", "audio_eos_token")


def _tokenizer(processor: Any) -> Any:
    """The tokenizer of a processor (or the tokenizer itself)."""
    return getattr(processor, "tokenizer", processor)


def guided_token_ids(processor: Any) -> dict[str, int]:
    """The id of each guided token; raises KeyError if one is missing or not a single token."""
    tok = _tokenizer(processor)
    vocab = tok.get_vocab()
    missing = [t for t in GUIDED_TOKENS if t not in vocab]
    if missing:
        raise KeyError(f"guided tokens {missing} are not in the tokenizer (call add_guided_tokens)")
    return {t: vocab[t] for t in GUIDED_TOKENS}


def answer_token_ids(processor: Any, labels: Sequence[str]) -> list[int]:
    """The ids that the answer spans ``<answer>label</answer>`` of ``labels`` tokenize into, sorted and unique."""
    tok = _tokenizer(processor)
    return sorted({i for label in labels for i in tok.encode(f"<answer>{label}</answer>", add_special_tokens=False)})


def placeholder_ids(processor: Any) -> list[int]:
    """Ids of the multimodal placeholders and their delimiters, which a policy must never generate.

    A generated ``<|VIDEO|>`` or ``<|audio_bos|>`` makes the next forward pass look for media that is not
    there (``get_rope_index`` fails), so :func:`set_generation_defaults` suppresses all of them.
    """
    tok = _tokenizer(processor)
    ids = set()
    for attr in PLACEHOLDER_ATTRS:
        token = getattr(processor, attr, None) or getattr(tok, attr, None)
        if token is not None:
            i = tok.convert_tokens_to_ids(token)
            if i is not None and i != tok.unk_token_id:
                ids.add(int(i))
    return sorted(ids)


def _row_stats(weight: torch.Tensor, n: int, chunk: int = 8192) -> tuple[torch.Tensor, float]:
    """Mean row (float32, on the CPU) and overall standard deviation of ``weight[:n]``, in chunks (no fp32 copy)."""
    total = torch.zeros(weight.shape[1], dtype=torch.float64)
    sq = 0.0
    for i in range(0, n, chunk):
        block = weight[i:min(n, i + chunk)].detach().to("cpu", torch.float64)
        total += block.sum(0)
        sq += float((block * block).sum())
    mean = total / n
    var = sq / (n * weight.shape[1]) - float((mean * mean).mean())
    return mean.float(), max(var, 0.0) ** 0.5


def add_guided_tokens(model: Any, processor: Any, seed: int = 0, noise: float = 0.01) -> dict[str, int]:
    """Add the four guided tokens as special tokens (one id each) and give them embedding and lm_head rows.

    Idempotent: tokens already in the tokenizer keep their ids and rows. A newly added token's input and
    output rows are set to the mean of the existing rows plus Gaussian noise of ``noise`` times their
    standard deviation, drawn from a private generator seeded with ``seed`` (deterministic). The
    embeddings are resized only when the tokenizer outgrows them (the 7B's vocabulary is padded, so its
    new tokens land on spare rows, which are re-initialised the same way). Returns ``{token: id}``.
    """
    tok = _tokenizer(processor)
    vocab = tok.get_vocab()
    new = [t for t in GUIDED_TOKENS if t not in vocab]
    n_old = len(tok)
    if new:
        tok.add_special_tokens({"extra_special_tokens": new}, replace_extra_special_tokens=False)
    ids = guided_token_ids(tok)
    n_rows = model.get_input_embeddings().weight.shape[0]
    if len(tok) > n_rows:
        model.resize_token_embeddings(len(tok), mean_resizing=False)
    # rows to initialise: new tokens, and tokens the tokenizer had but the embeddings had to grow for
    rows = sorted({ids[t] for t in new} | {i for i in ids.values() if i >= n_rows})
    if rows:
        gen = torch.Generator().manual_seed(seed)
        outs = [model.get_input_embeddings()]
        head = model.get_output_embeddings()
        if head is not None and head.weight.data_ptr() != outs[0].weight.data_ptr():
            outs.append(head)
        with torch.no_grad():
            for layer in outs:
                w = layer.weight
                mean, std = _row_stats(w, min(n_old, n_rows, min(rows)))
                fresh = mean + noise * std * torch.randn(len(rows), w.shape[1], generator=gen)
                w[rows] = fresh.to(device=w.device, dtype=w.dtype)
        log.info("initialised guided token rows %s", rows)
    return ids


def set_generation_defaults(model: Any, processor: Any) -> None:
    """Greedy decoding that stops at ``<|im_end|>`` and never emits a multimodal placeholder id."""
    tok = _tokenizer(processor)
    gc = model.generation_config
    gc._from_model_config = False  # a config of its own: kept as saved when loaded back
    eos = [i for i in (tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>"))
           if i is not None]
    if gc.eos_token_id is None:
        gc.eos_token_id = eos
    if gc.pad_token_id is None:
        gc.pad_token_id = tok.pad_token_id
    suppress = set(gc.suppress_tokens or []) | set(placeholder_ids(processor))
    gc.suppress_tokens = sorted(suppress)


def load_omni(name_or_path: str | os.PathLike[str], dtype: str = "float32", device: str = "cpu",
              **kwargs: Any) -> tuple[Any, Any]:
    """Load the Qwen2.5-Omni thinker and its processor (local dir or hub id, offline-safe), guided tokens added.

    The full Qwen2.5-Omni checkpoint loads as its thinker alone (transformers strips the ``thinker.``
    prefix). Missing guided tokens are added with :func:`add_guided_tokens`; the generation config
    suppresses the multimodal placeholder ids.
    """
    from transformers import Qwen2_5OmniProcessor, Qwen2_5OmniThinkerForConditionalGeneration

    processor = load_processor(Qwen2_5OmniProcessor, name_or_path)
    model = load_pretrained(Qwen2_5OmniThinkerForConditionalGeneration, name_or_path, dtype=dtype, device=device,
                            **kwargs)
    add_guided_tokens(model, processor)
    set_generation_defaults(model, processor)
    return model, processor


def decode(processor: Any, ids: Any) -> list[str]:
    """Decode generated ids keeping the guided tokens (they are special) and dropping end and pad tokens."""
    tok = _tokenizer(processor)
    drop = {tok.pad_token_id, tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>"),
            tok.convert_tokens_to_ids("<|endoftext|>")}
    if isinstance(ids, torch.Tensor):
        ids = ids.tolist()
    if ids and isinstance(ids[0], int):
        ids = [ids]
    return [tok.decode([i for i in row if i not in drop], skip_special_tokens=False) for row in ids]
