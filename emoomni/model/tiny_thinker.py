"""A tiny, randomly initialised Qwen2.5-Omni thinker with its real processor, built offline in seconds.

The model is the real ``Qwen2_5OmniThinkerForConditionalGeneration`` at toy width (text 256 wide,
3 layers; vision and audio encoders 64 wide, 2 layers), the tokenizer a locally trained
``Qwen2Tokenizer`` carrying the Qwen2.5-Omni token names (``<|VIDEO|>``, ``<|AUDIO|>``,
``<|vision_bos|>`` ...), and the processor the real ``Qwen2_5OmniProcessor`` (Qwen2-VL image and video
processors, Whisper log-mel features at 128 bins). Everything is saved with ``save_pretrained``
(safetensors) so that :func:`emoomni.model.load_omni` loads it exactly as it loads the 7B.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from emoomni.model.tiny_tokenizer import qwen_tokenizer
from emoomni.model.tokens import add_guided_tokens, set_generation_defaults

log = logging.getLogger(__name__)

# The processor's named tokens, spelled as in the Qwen2.5-Omni-7B tokenizer.
NAMED_TOKENS = {
    "image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "audio_token": "<|AUDIO|>",
    "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
    "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>",
}

# The Qwen2.5-Omni chat template, dispatching on content["type"] only (Hugging Face ``datasets`` fills
# missing keys with None, so tests such as ``'video' in content`` would double the placeholders).
OMNI_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'text' %}{{ item['text'] }}"
    "{% elif item['type'] == 'image' %}{{ '<|vision_bos|><|IMAGE|><|vision_eos|>' }}"
    "{% elif item['type'] == 'video' %}{{ '<|vision_bos|><|VIDEO|><|vision_eos|>' }}"
    "{% elif item['type'] == 'audio' %}{{ '<|audio_bos|><|AUDIO|><|audio_eos|>' }}"
    "{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TINY_VERSION = 4
"""Bumped whenever the tiny architecture or its tokenizer changes, so cached tiny bases are rebuilt."""

TEXT = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=3, num_attention_heads=8,
            num_key_value_heads=4, max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=False,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [4, 6, 6]})
VISION = dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=2, patch_size=14, spatial_merge_size=2,
              temporal_patch_size=2, window_size=112, fullatt_block_indexes=[1])
AUDIO = dict(num_mel_bins=128, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=128, d_model=64,
             max_source_positions=1500, n_window=50)


def omni_tokenizer() -> object:
    """A real ``Qwen2Tokenizer`` over a local vocabulary, with the Omni processor's named special tokens."""
    return qwen_tokenizer(extra_special_tokens=NAMED_TOKENS, chat_template=OMNI_TEMPLATE)


def omni_processor(tokenizer: object, max_pixels: int = 112 * 112) -> object:
    """The real ``Qwen2_5OmniProcessor`` around ``tokenizer``, sized for small frames and 30 s Whisper windows."""
    from transformers import Qwen2_5OmniProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor, WhisperFeatureExtractor

    unit = (14 * 2) ** 2  # one merged 2x2 patch of 14 px
    image = Qwen2VLImageProcessor(patch_size=14, temporal_patch_size=2, merge_size=2,
                                  size={"shortest_edge": unit, "longest_edge": max_pixels})
    video = Qwen2VLVideoProcessor(patch_size=14, temporal_patch_size=2, merge_size=2, min_frames=2, max_frames=64,
                                  cap_pixels_per_frame=True,
                                  size={"shortest_edge": unit, "longest_edge": max_pixels})
    features = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=30,
                                       n_fft=400, return_attention_mask=True)
    return Qwen2_5OmniProcessor(image_processor=image, video_processor=video, feature_extractor=features,
                                tokenizer=tokenizer, chat_template=OMNI_TEMPLATE)


def vision_config(width: int = VISION["hidden_size"]) -> dict:
    """The vision tower's config at ``width`` (feed-forward twice as wide, one head per 32 channels).

    >>> [vision_config(w)[k] for w in (64, 128) for k in ("hidden_size", "intermediate_size", "num_heads")]
    [64, 128, 2, 128, 256, 4]
    """
    if width < 32 or width % 32:
        raise ValueError(f"the vision tower's width must be a positive multiple of 32, got {width}")
    return dict(VISION, hidden_size=width, intermediate_size=2 * width, num_heads=width // 32)


def omni_config(tokenizer: object, vision_width: int = VISION["hidden_size"]) -> object:
    """The tiny thinker config, with every token id taken from ``tokenizer``; the vision tower ``vision_width`` wide."""
    from transformers import Qwen2_5OmniThinkerConfig

    tid = tokenizer.convert_tokens_to_ids
    text = dict(TEXT, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    config = Qwen2_5OmniThinkerConfig(
        text_config=text, vision_config=dict(vision_config(vision_width), out_hidden_size=TEXT["hidden_size"]),
        audio_config=dict(AUDIO, output_dim=TEXT["hidden_size"]),
        audio_token_index=tid("<|AUDIO|>"), image_token_index=tid("<|IMAGE|>"), video_token_index=tid("<|VIDEO|>"),
        audio_start_token_id=tid("<|audio_bos|>"), audio_end_token_id=tid("<|audio_eos|>"),
        user_token_id=tokenizer.encode("user")[0], position_id_per_seconds=25, seconds_per_chunk=2,
        tie_word_embeddings=False)
    # Read by get_rope_index though not a declared field (the 7B's config.json carries these too).
    config.vision_start_token_id = tid("<|vision_bos|>")
    config.vision_end_token_id = tid("<|vision_eos|>")
    config.pad_token_id = tokenizer.pad_token_id
    return config


def build_tiny_omni(out_dir: str | Path, seed: int = 0, vision_width: int = VISION["hidden_size"]) -> Path:
    """Build, save and return a tiny random Qwen2.5-Omni thinker with its processor and the guided tokens."""
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = omni_tokenizer()
    processor = omni_processor(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5OmniThinkerForConditionalGeneration(omni_config(tokenizer, vision_width)).eval()
    add_guided_tokens(model, processor, seed=seed)
    gc = model.generation_config
    gc.do_sample = False
    gc.eos_token_id = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    set_generation_defaults(model, processor)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    log.info("built tiny Qwen2.5-Omni thinker (%.2f M parameters) in %s in %.1f s", n / 1e6, out,
             time.perf_counter() - start)
    return out
