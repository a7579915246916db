"""Tiny, randomly initialised models of the real extractor and verifier architectures.

Each builder makes a model of the exact transformers class the paper-scale profile loads
(Qwen3-VL, Qwen2-Audio, Whisper, Qwen3, and a Qwen2.5-Omni thinker as a server loads it) with its real processor, at hidden sizes of 32-64 and
one or two layers, and saves both with ``save_pretrained`` (safetensors) into a directory that
:func:`emoomni.pretrained.load_pretrained` and ``AutoProcessor`` load back. Tests and the embedded
default thereby run the same code path as the real models; the replies are gibberish. Every
builder is deterministic (its own seeded RNG), takes a few seconds and writes at most a few MB.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import torch

from emoomni.model.tiny_tokenizer import CHATML_TEMPLATE, corpus, qwen_tokenizer

log = logging.getLogger(__name__)

SEED = 0

# Qwen3's template: ChatML, plus the empty think block that ``enable_thinking=False`` inserts.
QWEN3_TEMPLATE = CHATML_TEMPLATE.replace(
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\n\n</think>\n\n' }}{% endif %}"
    "{% endif %}",
)

# Qwen2-Audio's template: each audio item becomes "Audio n: <|audio_bos|><|AUDIO|><|audio_eos|>".
QWEN2_AUDIO_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'audio' %}{% set audio_count.value = audio_count.value + 1 %}"
    "{{ 'Audio ' + audio_count.value|string + ': <|audio_bos|><|AUDIO|><|audio_eos|>\n' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


OMNI_TOKENS = {"image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "audio_token": "<|AUDIO|>",
               "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
               "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}
OMNI_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'text' %}{{ item['text'] }}"
    "{% elif item['type'] == 'image' %}{{ '<|vision_bos|><|IMAGE|><|vision_eos|>' }}"
    "{% elif item['type'] == 'video' %}{{ '<|vision_bos|><|VIDEO|><|vision_eos|>' }}"
    "{% elif item['type'] == 'audio' %}{{ '<|audio_bos|><|AUDIO|><|audio_eos|>' }}"
    "{% endif %}{% endfor %}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _out(out_dir: str | Path) -> Path:
    """Create (if needed) and return the output directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _init(model_cls: type, config: object) -> torch.nn.Module:
    """Instantiate a model with random weights from a private, seeded RNG (the global RNG is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = model_cls(config)
    return model.eval()


def _save(model: torch.nn.Module, processor: object, out: Path) -> Path:
    """Save model (safetensors) and processor, and log the size."""
    model.save_pretrained(out)
    processor.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    log.info("built tiny %s (%.2f M parameters) in %s", type(model).__name__, n / 1e6, out)
    return out


def _text_config(tok: object, **over: object) -> dict:
    """A tiny Qwen-style decoder: 64 wide, 2 layers, 4 heads of 16 (2 KV heads)."""
    cfg = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
               pad_token_id=tok.pad_token_id, bos_token_id=None, eos_token_id=tok.eos_token_id,
               tie_word_embeddings=False)
    cfg.update(over)
    return cfg


def _generation(model: torch.nn.Module, tok: object) -> None:
    """Greedy by default, stopping at ``<|im_end|>`` (or the end-of-text token), padding with the pad token."""
    gc = model.generation_config
    gc._from_model_config = False  # a config of its own: kept as saved when loaded back
    gc.do_sample = False
    gc.eos_token_id = [tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")]
    gc.pad_token_id = tok.pad_token_id
    gc.bos_token_id = None
    for name in ("temperature", "top_p", "top_k"):
        setattr(gc, name, None)
    # a random <tool_call> makes `transformers serve` parse gibberish as JSON and answer HTTP 500
    gc.suppress_tokens = tok.convert_tokens_to_ids(["<tool_call>", "</tool_call>"])


def build_tiny_qwen3(out_dir: str | Path) -> Path:
    """A tiny ``Qwen3ForCausalLM`` (the verifier) with a Qwen2 tokenizer whose template honours ``enable_thinking``."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    out = _out(out_dir)
    tok = qwen_tokenizer(additional_tokens=("<think>", "</think>"), chat_template=QWEN3_TEMPLATE)
    config = Qwen3Config(**_text_config(tok))
    model = _init(Qwen3ForCausalLM, config)
    _generation(model, tok)
    return _save(model, tok, out)


def build_tiny_qwen3_vl(out_dir: str | Path) -> Path:
    """A tiny ``Qwen3VLForConditionalGeneration`` with its ``Qwen3VLProcessor`` (64x64 frames, 4 tokens per frame pair)."""
    from transformers import (Qwen2VLImageProcessor, Qwen3VLConfig, Qwen3VLForConditionalGeneration,
                              Qwen3VLProcessor, Qwen3VLVideoProcessor)

    out = _out(out_dir)
    tok = qwen_tokenizer()
    ids = {n: tok.convert_tokens_to_ids(t) for n, t in (("image_token_id", "<|image_pad|>"),
                                                          ("video_token_id", "<|video_pad|>"),
                                                          ("vision_start_token_id", "<|vision_start|>"),
                                                          ("vision_end_token_id", "<|vision_end|>"))}
    text = _text_config(tok, rope_parameters={"rope_type": "default", "rope_theta": 5_000_000.0,
                                              "mrope_section": [2, 3, 3], "mrope_interleaved": True})
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16, spatial_merge_size=2,
                  temporal_patch_size=2, out_hidden_size=text["hidden_size"], num_position_embeddings=64,
                  deepstack_visual_indexes=[0])
    config = Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)
    model = _init(Qwen3VLForConditionalGeneration, config)
    _generation(model, tok)
    pixels = {"shortest_edge": 32 * 32, "longest_edge": 64 * 64}
    image_processor = Qwen2VLImageProcessor(patch_size=16, temporal_patch_size=2, merge_size=2, size=pixels)
    video_processor = Qwen3VLVideoProcessor(patch_size=16, temporal_patch_size=2, merge_size=2,
                                            size={"shortest_edge": 32 * 32, "longest_edge": 16 * 64 * 64},
                                            cap_pixels_per_frame=True, max_video_tokens=4, min_frames=2,
                                            max_frames=16, fps=4)
    processor = Qwen3VLProcessor(image_processor=image_processor, tokenizer=tok, video_processor=video_processor,
                                 chat_template=CHATML_TEMPLATE)
    return _save(model, processor, out)


def _whisper_features(feature_size: int, seconds: int) -> object:
    """A Whisper log-mel feature extractor over ``seconds``-long windows (the real ones use 30 s)."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=feature_size, sampling_rate=16000, hop_length=160,
                                   chunk_length=seconds, n_fft=400)


def build_tiny_qwen2_audio(out_dir: str | Path, window_seconds: int = 4) -> Path:
    """A tiny ``Qwen2AudioForConditionalGeneration`` with its ``Qwen2AudioProcessor`` (128 mel bins, 4 s window)."""
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

    out = _out(out_dir)
    tok = qwen_tokenizer(additional_tokens=("<|audio_bos|>", "<|audio_eos|>"))
    features = _whisper_features(128, window_seconds)
    audio = dict(model_type="qwen2_audio_encoder", num_mel_bins=128, encoder_layers=2, encoder_attention_heads=2,
                 encoder_ffn_dim=64, d_model=32, max_source_positions=features.nb_max_frames // 2)
    text = dict(model_type="qwen2", **_text_config(tok))
    text.pop("head_dim")
    config = Qwen2AudioConfig(audio_config=audio, text_config=text,
                              audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"))
    model = _init(Qwen2AudioForConditionalGeneration, config)
    _generation(model, tok)
    processor = Qwen2AudioProcessor(feature_extractor=features, tokenizer=tok, chat_template=QWEN2_AUDIO_TEMPLATE)
    return _save(model, processor, out)


def train_gpt2_bpe(texts: Iterable[str], vocab_size: int = 1000) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a byte-level BPE with GPT-2's pre-tokeniser (Whisper's); returns vocab and merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, special_tokens=["<|endoftext|>"])
    tok.train_from_iterator(list(texts), trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def whisper_tokenizer(vocab_size: int = 1000) -> object:
    """A real ``WhisperTokenizer`` over a locally trained vocabulary with Whisper's special and timestamp tokens."""
    from transformers import WhisperTokenizer
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    vocab, merges = train_gpt2_bpe(corpus(), vocab_size)
    tok = WhisperTokenizer(vocab=vocab, merges=merges, unk_token="<|endoftext|>", bos_token="<|endoftext|>",
                           eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    special = (["<|startoftranscript|>"] + [f"<|{code}|>" for code in LANGUAGES]
               + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                  "<|notimestamps|>"])
    tok.add_special_tokens({"additional_special_tokens": special})
    tok.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    return tok


def build_tiny_whisper(out_dir: str | Path, window_seconds: int = 4) -> Path:
    """A tiny multilingual-style ``WhisperForConditionalGeneration`` with its ``WhisperProcessor`` (4 s window)."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperProcessor
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    out = _out(out_dir)
    tok = whisper_tokenizer()
    features = _whisper_features(80, window_seconds)
    tid = tok.convert_tokens_to_ids
    eot, sot = tid("<|endoftext|>"), tid("<|startoftranscript|>")
    space = tok.convert_tokens_to_ids("\u0120")
    config = WhisperConfig(vocab_size=len(tok), num_mel_bins=80, encoder_layers=2, encoder_attention_heads=2,
                           decoder_layers=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                           d_model=32, max_source_positions=features.nb_max_frames // 2, max_target_positions=128,
                           decoder_start_token_id=sot, pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
                           begin_suppress_tokens=None, suppress_tokens=None)
    model = _init(WhisperForConditionalGeneration, config)
    settings = dict(decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
              is_multilingual=True, lang_to_id={f"<|{c}|>": tid(f"<|{c}|>") for c in LANGUAGES},
              task_to_id={"transcribe": tid("<|transcribe|>"), "translate": tid("<|translate|>")},
              no_timestamps_token_id=tid("<|notimestamps|>"), prev_sot_token_id=tid("<|startofprev|>"),
              max_initial_timestamp_index=50, begin_suppress_tokens=[space, eot], suppress_tokens=[],
              return_timestamps=False, do_sample=False, forced_decoder_ids=None)
    # setattr, not update(): update() ignores Whisper-only fields; and a config derived from the model config
    # (_from_model_config=True) drops them again on load, so mark it as a config of its own.
    model.generation_config._from_model_config = False
    for name, value in settings.items():
        setattr(model.generation_config, name, value)
    processor = WhisperProcessor(feature_extractor=features, tokenizer=tok)
    _save(model, processor, out)
    tok.save_vocabulary(str(out))  # vocab.json and merges.txt too, as the real checkpoints ship them
    return out


def build_tiny_omni_image_thinker(out_dir: str | Path) -> Path:
    """A random Qwen2.5-Omni thinker with the released processor's token names, as ``transformers serve`` loads it.

    It takes images and audio (what an OpenAI-compatible chat request carries), not the book's videos.
    """
    from transformers import (Qwen2_5OmniProcessor, Qwen2_5OmniThinkerConfig,
                              Qwen2_5OmniThinkerForConditionalGeneration, Qwen2VLImageProcessor, WhisperFeatureExtractor)
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    path = _out(out_dir)
    tok = qwen_tokenizer(extra_special_tokens=OMNI_TOKENS, additional_tokens=list(OMNI_TOKENS.values()),
                         chat_template=OMNI_TEMPLATE)
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in OMNI_TOKENS.items()}
    processor = Qwen2_5OmniProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112),
        video_processor=Qwen2VLVideoProcessor(), feature_extractor=WhisperFeatureExtractor(feature_size=128),
        tokenizer=tok, chat_template=OMNI_TEMPLATE)
    config = Qwen2_5OmniThinkerConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                         rope_scaling={"mrope_section": [4, 6, 6], "type": "default", "rope_type": "default"}),
        vision_config=dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=4, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=112, out_hidden_size=128,
                           fullatt_block_indexes=[1]),
        audio_config=dict(encoder_layers=2, d_model=64, encoder_attention_heads=4, encoder_ffn_dim=128,
                          num_mel_bins=128, output_dim=128, n_window=50),
        image_token_id=ids["image_token"], video_token_id=ids["video_token"], audio_token_id=ids["audio_token"],
        audio_start_token_id=ids["audio_bos_token"], audio_end_token_id=ids["audio_eos_token"],
        vision_start_token_id=ids["vision_bos_token"], vision_end_token_id=ids["vision_eos_token"],
        pad_token_id=tok.pad_token_id)
    config.vision_start_token_id = ids["vision_bos_token"]  # read by get_rope_index
    model = _init(Qwen2_5OmniThinkerForConditionalGeneration, config)
    model.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tok.pad_token_id
    # random weights may emit placeholders, or a <tool_call> the server would parse as JSON
    model.generation_config.suppress_tokens = [*ids.values(), *tok.convert_tokens_to_ids(["<tool_call>", "</tool_call>"])]
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


BUILDERS = {"qwen3": build_tiny_qwen3, "qwen3vl": build_tiny_qwen3_vl, "qwen2audio": build_tiny_qwen2_audio,
            "whisper": build_tiny_whisper}
