"""The Qwen2.5-Omni-7B thinker at its released widths, any depth, randomly initialised, with the 7B's processor.

Every width, head count, vocabulary size and token id comes from :func:`emoomni.omni7b.thinker_spec`
(the released ``config.json`` as data); only the number of layers per tower (vision blocks, audio
layers, language-model layers) is a parameter, so a CPU can run the real shapes at depth 1 and a GPU
at full depth. The tokenizer is the locally trained byte-level BPE of :mod:`emoomni.model.tiny_tokenizer`
padded to the 7B's 151,643 base entries, so that every special token sits on the 7B's id
(``<|AUDIO|>`` 151646, ``<|VIDEO|>`` 151656 ...) and the embedding has the 7B's 152,064 rows; its text
pieces are shorter than the 7B's own BPE pieces, so text prompts count somewhat more tokens than the 7B
would (media token counts are exact). The processor is the real ``Qwen2_5OmniProcessor`` with the
released ``preprocessor_config.json`` (300-second Whisper window) and the video frame bounds of
``qwen-omni-utils`` (128 to 768 merged patches a frame pair, 2 frames a second).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers import initialization as init
from transformers import (Qwen2_5OmniProcessor, Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration,
                          Qwen2Tokenizer, Qwen2VLImageProcessor, Qwen2VLVideoProcessor, WhisperFeatureExtractor)

from emoomni.model.tiny_thinker import NAMED_TOKENS, OMNI_TEMPLATE
from emoomni.model.tiny_tokenizer import _trained_bpe
from emoomni.model.tokens import add_guided_tokens, set_generation_defaults
from emoomni.omni7b import processor_spec, thinker_spec

log = logging.getLogger(__name__)


def depth_of(depth: int | str | None) -> int | None:
    """A depth flag as layers per tower: an int, ``"full"``/None (the released depth).

    >>> depth_of("2"), depth_of("full"), depth_of(None)
    (2, None, None)
    """
    if depth is None or depth == "full":
        return None
    d = int(depth)
    if d < 1:
        raise ValueError(f"depth must be at least 1 or 'full', got {depth!r}")
    return d


def paper_tokenizer(spec: dict | None = None) -> Any:
    """A ``Qwen2Tokenizer`` whose special tokens carry the 7B's ids (a local BPE padded to 151,643 entries)."""
    spec = spec or thinker_spec()
    tokens = spec["tokens"]
    base = min(tokens.values())
    vocab, merges = _trained_bpe(2000)
    vocab = dict(vocab)
    if len(vocab) > base:
        raise ValueError("the local vocabulary is larger than the 7B's base vocabulary")
    vocab.update({f"<|unused_{i}|>": i for i in range(len(vocab), base)})
    top = max(tokens.values())
    spare = {i: f"<|reserved_{i}|>" for i in range(base, top + 1) if i not in tokens.values()}
    vocab.update({name: i for name, i in tokens.items()} | {name: i for i, name in spare.items()})
    tok = Qwen2Tokenizer(vocab=vocab, merges=list(merges), unk_token=None, eos_token="<|im_end|>",
                         pad_token="<|endoftext|>", extra_special_tokens=dict(NAMED_TOKENS))
    tok.add_special_tokens({"additional_special_tokens": sorted(set(tokens) | set(spare.values()),
                                                                key=lambda t: vocab[t])})
    tok.chat_template = OMNI_TEMPLATE
    wrong = {t: tok.convert_tokens_to_ids(t) for t, i in tokens.items() if tok.convert_tokens_to_ids(t) != i}
    if wrong:
        raise AssertionError(f"special tokens off the 7B's ids: {wrong}")
    return tok


def video_size(spec: dict | None = None) -> dict[str, int]:
    """The video processor's per-frame pixel bounds of ``qwen-omni-utils``: 128 to 768 merged 28-px patches."""
    spec = spec or processor_spec()
    q, pc = spec["qwen_omni_utils"], spec["preprocessor_config"]
    unit = (pc["patch_size"] * pc["merge_size"]) ** 2
    return {"shortest_edge": q["video_min_token_num"] * unit, "longest_edge": q["video_max_token_num"] * unit}


def paper_processor(tokenizer: Any, spec: dict | None = None) -> Any:
    """The real ``Qwen2_5OmniProcessor`` with the 7B's released preprocessor settings around ``tokenizer``."""
    spec = spec or processor_spec()
    pc, q = spec["preprocessor_config"], spec["qwen_omni_utils"]
    common = dict(patch_size=pc["patch_size"], temporal_patch_size=pc["temporal_patch_size"],
                  merge_size=pc["merge_size"], image_mean=pc["image_mean"], image_std=pc["image_std"])
    image = Qwen2VLImageProcessor(**common, size={"shortest_edge": pc["min_pixels"], "longest_edge": pc["max_pixels"]})
    video = Qwen2VLVideoProcessor(**common, min_frames=q["fps_min_frames"], max_frames=q["fps_max_frames"],
                                  size=video_size(spec))
    features = WhisperFeatureExtractor(feature_size=pc["feature_size"], sampling_rate=pc["sampling_rate"],
                                       hop_length=pc["hop_length"], chunk_length=pc["chunk_length"], n_fft=pc["n_fft"],
                                       padding_value=pc["padding_value"], dither=pc["dither"],
                                       return_attention_mask=pc["return_attention_mask"])
    return Qwen2_5OmniProcessor(image_processor=image, video_processor=video, feature_extractor=features,
                                tokenizer=tokenizer, chat_template=OMNI_TEMPLATE)


def paper_config(depth: int | str | None = 1, spec: dict | None = None) -> Any:
    """The 7B thinker's configuration with ``depth`` layers per tower and in the language model (None: released)."""
    spec = spec or thinker_spec()
    d = depth_of(depth)
    t = dict(spec["text_config"])
    rope = {"rope_type": "default", "rope_theta": t.pop("rope_theta"), "mrope_section": t.pop("mrope_section")}
    th = spec["thinker"]
    text = dict(t, rope_parameters=rope, pad_token_id=th["pad_token_id"], bos_token_id=th["bos_token_id"],
                eos_token_id=th["eos_token_id"])
    vision, audio = dict(spec["vision_config"]), dict(spec["audio_config"])
    if d is not None:
        text.update(num_hidden_layers=d, max_window_layers=d)
        vision.update(depth=d, fullatt_block_indexes=[i for i in vision["fullatt_block_indexes"] if i < d] or [d - 1])
        audio["encoder_layers"] = d
    ids = {k: th[k] for k in ("audio_token_index", "image_token_index", "video_token_index", "audio_start_token_id",
                              "audio_end_token_id", "user_token_id", "position_id_per_seconds", "seconds_per_chunk",
                              "initializer_range", "tie_word_embeddings")}
    config = Qwen2_5OmniThinkerConfig(text_config=text, vision_config=vision, audio_config=audio, **ids)
    for k in ("vision_start_token_id", "vision_end_token_id", "vision_token_id", "pad_token_id", "bos_token_id",
              "eos_token_id"):
        setattr(config, k, th[k])  # read by get_rope_index and generation; the release's config.json carries them
    return config


def random_init(model: Any, std: float, seed: int) -> None:
    """Matrices ~ N(0, std), biases 0, norm scales 1, from a private generator (transformers' scheme, one pass)."""
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, std, generator=gen)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0)


def build_paper_thinker(depth: int | str | None = 1, dtype: str = "bfloat16", device: str = "cpu",
                        seed: int = 0) -> tuple[Any, Any]:
    """The randomly initialised 7B thinker at ``depth`` with its processor and the guided tokens: ``(model, processor)``.

    The reduced model keeps the full vocabulary (152,064 untied rows in and out), so even at depth 1 it
    holds about 1.2 billion parameters. A full-depth build on ``cuda`` is the 7B's architecture, untrained.
    """
    tokenizer = paper_tokenizer()
    processor = paper_processor(tokenizer)
    config = paper_config(depth)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device(device), init.no_init_weights():
            model = Qwen2_5OmniThinkerForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(previous)
    random_init(model, config.initializer_range, seed)
    add_guided_tokens(model, processor, seed=seed)
    model.generation_config.do_sample = False
    set_generation_defaults(model, processor)
    log.info("built the 7B thinker at depth %s: %.3f B parameters", depth,
             sum(p.numel() for p in model.parameters()) / 1e9)
    return model, processor
