"""Tiny, locally built tokenizers for randomly initialised models of real architectures.

Nothing here downloads: a byte-level BPE with Qwen2's pre-tokenizer is trained in a second or two
on text the library itself holds (its prompts, label names, SynthEmo's sentences, evidence
phrasing), wrapped as the real ``Qwen2Tokenizer`` with Qwen's special tokens and ChatML template.
Tests and the embedded default build their tiny models on top of it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

from emoomni import prompts
from emoomni.data.synthemo import text
from emoomni.data.synthemo.design import CLASSES
from emoomni.extract.descriptions import TEMPLATES
from emoomni.extract.descriptions import describe as describe_cues
from emoomni.extract.face_geometry import Change, describe
from emoomni.extract.signal import SignalAudio
from emoomni.extract.verify_rules import compose_analysis
from emoomni.labels import SYNONYMS
from emoomni.omnicot import OmniCoT, render

QWEN_SPECIAL = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<|audio_start|>", "<|audio_end|>", "<|AUDIO|>", "<tool_call>", "</tool_call>",
)

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'text' %}{{ item['text'] }}"
    "{% elif item['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif item['type'] == 'video' %}{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{% elif item['type'] == 'audio' %}{{ '<|audio_start|><|AUDIO|><|audio_end|>' }}"
    "{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def corpus() -> list[str]:
    """Text the library holds, for training a small vocabulary that covers what it will encode."""
    lines = [prompts.SYSTEM, prompts.VERIFY, *prompts.EXTRACT.values(), " ".join(SYNONYMS)]
    for emotion, templates in text.TEMPLATES.items():
        for t in templates:
            for key, options in text.FILLERS.items():
                t = t.replace("{" + key + "}", options[len(t) % len(options)])
            lines.append(t)
    lines += evidence_phrasing()
    lines += [
        "The face shows raised brows, wide eyes and an open mouth. The voice is loud, fast and high.",
        "Brows lowered and drawn together, lips pressed. The pitch is low and flat, the speech slow and quiet.",
        "Reason: the emotion is neutral happy sad angry worried surprised fearful calm disgusted.",
        "yes no Analysis: the visual, vocal and verbal cues agree and point to the label. No speech is heard.",
        "What is the sound? Which object is shown? A B C D option answer question image audio speech music.",
        "0 1 2 3 4 5 6 7 8 9 . , ; : ! ? ' \" ( ) [ ] < > / - _ * # % & + =",
    ]
    return lines


def evidence_phrasing() -> list[str]:
    """Sentences in the wording the offline extractors, the rule verifier and the description pre-training use."""
    import itertools

    import numpy as np

    lines = [describe(Change(*c)) for c in itertools.product((-0.1, 0.0, 0.1), (-0.1, 0.0, 0.1), (0.8, 1.0, 1.2),
                                                            (-0.1, 0.0, 0.1), (0.0, 0.1))]
    lines += [SignalAudio.text(np.array(z, float), CLASSES) for z in itertools.product((-1, 0, 1), repeat=5)]
    for votes in itertools.product(CLASSES, repeat=3):
        gold = max(votes, key=votes.count)  # a tie (three different votes) goes to the first modality's
        lines.append(compose_analysis(dict(zip(("vision", "audio", "dialogue"), votes)), gold))
    for i, c in enumerate(itertools.product(CLASSES, repeat=3)):
        lines.append(describe_cues(dict(zip(("vision", "audio", "text"), c)), i % len(TEMPLATES), "Words."))
    lines += [render(OmniCoT("Reason: the expression suggests " + c + ".", "Reason: the voice suggests " + c + ".",
                             'The speaker says: "words"', "the person is " + c + ".", c)) for c in CLASSES]
    return lines


def train_bpe(texts: Iterable[str], vocab_size: int = 2000) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a byte-level BPE with Qwen2's normaliser and pre-tokeniser; returns vocab and merges."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, special_tokens=[])
    tok.train_from_iterator(list(texts), trainer)
    state = tok.to_str()
    import json

    model = json.loads(state)["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


@functools.lru_cache(maxsize=4)
def _trained_bpe(vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The BPE over :func:`corpus`, trained once per process and vocabulary size."""
    return train_bpe(corpus(), vocab_size)


def qwen_tokenizer(vocab_size: int = 2000, extra_special_tokens: dict[str, str] | None = None,
                   additional_tokens: Sequence[str] = (), chat_template: str = CHATML_TEMPLATE) -> Qwen2Tokenizer:
    """A real ``Qwen2Tokenizer`` over a locally trained vocabulary, with Qwen's special tokens at the end."""
    vocab, merges = _trained_bpe(vocab_size)
    tok = Qwen2Tokenizer(vocab=dict(vocab), merges=list(merges), unk_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                         extra_special_tokens=extra_special_tokens or {})
    tok.add_special_tokens({"additional_special_tokens": [t for t in QWEN_SPECIAL if t not in tok.get_vocab()]
                            + list(additional_tokens)})
    tok.chat_template = chat_template
    return tok
