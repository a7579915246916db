"""The tiny base that can perceive: a language phase on text, then description pre-training on SynthEmo's ``pretrain`` split.

Why. The paper fine-tunes Qwen2.5-Omni-7B, a base that already sees faces and hears voices; its
"vanilla" row is that base prompted zero-shot. A randomly initialised tiny thinker perceives nothing,
so without this stage "vanilla" would mean "random" and SFT would have to teach perception and
reasoning at once. :func:`pretrain_base` stands in for Qwen's own pre-training in two phases that
train every weight: first the language model alone learns to quote a transcript and read the
emotion of words (:func:`language_rows`), then the whole thinker (audio encoder, vision encoder,
projector, language model) learns to say in plain words what each modality shows.

Decisions.

- Encoders first, when asked (``encoders``, :mod:`emoomni.train.encoders`): the vision tower learns the
  face cue from face-only clips and the audio tower the voice cue from the ``pretrain`` clips, each with
  a throw-away probe, as a real Omni model starts from separately pretrained encoders. The towers then
  stay frozen through the language and description phases, so the language model learns to read them.
  Training the vision tower further in the descriptions at their learning rate (3e-3) undid it: the
  base then read the face of 21 % of the test clips.
- One modality at a time (``single_rows``): every learning face clip of the encoder phase, frames only,
  asks for the face line alone, and every clip's sound alone for the voice line alone (and, with
  ``encoders.voices``, every voice-only clip of :mod:`emoomni.data.synthemo.voices`), so that a line
  can only be answered from its own modality. Measured alone after this phase, the language model read
  the face of 60 % of 120 test clips (the frozen tower's probe: 91 % of 200 unseen face clips).
- Language first. Trained on the descriptions alone, the randomly initialised language model never
  learned to quote: it wrote nearly the same description for every clip, transcript included, and
  every SFT model on that base answered one class for every clip. The language phase
  (``language_samples`` text-only rows, one pass at batch ``language_batch_size``) shows a delimited
  transcript and asks for the words line of a description: the quote, then how the words sound. Its
  sentences come from SynthEmo's sentence templates on their own random stream, so the base knows
  how every sentence it will hear sounds, as a real language model knows the emotion of words; it
  sees no clip, no face or voice and no task. ``language_replay`` more such rows are mixed into the
  description epochs so that the quoting is kept.

- General skills last, when asked (``skill_phase_epochs``): the language model alone learns to answer
  SynthBench-style questions about other pictures and sounds, at a tenth of the descriptions' learning
  rate and with some description clips replayed. Asked within the descriptions, at their rate, the
  questions cost perception and the pictures were never read; the separate phase keeps perception.
- Data: the SynthEmo ``pretrain`` split only, disjoint from the SFT ``train``, ``val`` and ``test``
  clips, so no later evaluation clip is ever seen here.
- Task: description, not recognition. The user turn shows the clip (video with its own audio track)
  and the transcript, as in SFT, but asks to describe the face, the voice and the words
  (:data:`INSTRUCTIONS`); the answer (:func:`emoomni.extract.descriptions.describe`) has one line per modality, face, voice, words.
  The face and voice lines open with the sentence the offline extractors would write for the clip's
  designed cue (:func:`emoomni.extract.descriptions.modality_sentence`: the face geometry's change of expression, the voice's
  prosody) and close with a short phrase for the cue in one of three styles (:data:`emoomni.extract.descriptions.TEMPLATES`),
  picked per clip with its instruction, so the wording follows from the request and only the cues
  have to be perceived; the words line quotes the transcript. This stands in for what a large
  omni-modal model knows before SFT: the words for faces and voices, and how to say what it sees and
  hears. There is no candidate list, no ``<think>`` / ``<answer>`` format, no guided tokens, no
  "Reason:" step and no overall emotion (the gold label, which needs the majority rule across
  modalities, is never stated), so the base learns to perceive without learning the task.
- Training: full fine-tuning with AdamW through the same collator and TRL ``SFTTrainer`` as SFT
  (loss on the assistant turn only), a cosine schedule with a short warm-up; the result is a full
  thinker plus processor (safetensors) in ``out_dir/model`` (the language phase's in
  ``out_dir/language/model``), loadable with
  :func:`emoomni.model.load_omni`. Checkpoints every ``save_steps`` make a killed run resume; a
  finished run with the same settings and data is reused.

Cost and what it buys (default profile, 2-core CPU, measured alone): 2,200 face clips rendered and the
models loaded (about 110 s), the encoder phase 276 s (the face clips decoded and processed once, 1,200
vision steps, 400 audio steps), the language phase (6,400 rows, 400 steps of 16) 89 s, the descriptions
(2 epochs of 300 clips, 2,000 face clips, 300 voices and 120 language rows; 680 steps of 8, every clip
decoded once: :data:`emoomni.media.DECODED`) 209 s: 687 s in all, over the 8 minutes asked. :func:`cue_recognition`
on the first 120 test clips: the face cue 89.2 %, the voice 86.7 %, the words 93.3 % (chance 17 %).
With the encoders' mean-and-maximum probe alone (600 vision steps) the same stages read 63.3, 80.0
and 94.2 %: the face cue then sat in a few of the tower's tokens (see :mod:`emoomni.train.encoders`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoomni import ledger
from emoomni.data import omnibench, synthbench
from emoomni.data.manifest import Sample
from emoomni.data.synthemo.design import CLASSES
from emoomni.data.synthemo.faces import face_clips
from emoomni.data.synthemo.voices import voice_clips
from emoomni.data.synthemo.generate import SynthEmoConfig
from emoomni.data.synthemo.text import sentence
from emoomni.extract.descriptions import describe
from emoomni.model import chat_messages, load_omni, reply_log_probs
from emoomni.progress import tqdm
from emoomni.prompts import SYSTEM, delimit
from emoomni.settings import key_dict, when_set
from emoomni.train.collator import chat_row, make_trainer, training_args
from emoomni.train.encoders import EncoderSettings, pretrain_encoders, tower
from emoomni.train.runs import check_out_dir, data_key, finished, run_training, source_id
from emoomni.train.settings import TrainerSettings

log = logging.getLogger(__name__)

META = "emoomni_pretrain.json"

# One description style per instruction: the wording of the answer follows from the request (so a
# tiny model is not asked to guess it) and only the cues themselves have to be perceived.
INSTRUCTIONS = (
    "Describe the face, the voice and the words in this clip.",
    "Look at the face, listen to the voice and read the words, then describe each of them.",
    "How do the face, the voice and the words come across? Answer in three short parts.",
)
# Requests of the one-modality rows (a face clip without sound or words; a clip's sound alone), one per style.
FACE_INSTRUCTIONS = (
    "Describe the face in this clip.",
    "Look at the face and describe it.",
    "How does the face come across? Answer in one short part.",
)
VOICE_INSTRUCTIONS = (
    "Describe the voice in this clip.",
    "Listen to the voice and describe it.",
    "How does the voice come across? Answer in one short part.",
)
# Requests of the text-only language rows, one per description style: quote the words, then name how they sound.
LANGUAGE_INSTRUCTIONS = (
    "Quote these words and say how they sound.",
    "Repeat the words, then say what they are.",
    "Quote the words and name their tone in a word or two.",
)


def _pick(key: str, n: int) -> int:
    """A fixed choice among ``n`` from a key (a hash; the same every run)."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % n


def description_messages(sample: Sample, data_root: str | Path, include_transcript: bool = True,
                         cues: Mapping[str, str] | None = None) -> list[dict]:
    """The pre-training chat of one clip: its media and transcript, a description request, the description.

    The style (instruction and answer wording) is a fixed choice per clip, from a hash of its id. The
    answer describes ``cues`` when given (to score counterfactual descriptions), else the clip's own.
    """
    if "cues" not in sample.meta:
        raise KeyError(f"sample {sample.id!r} has no meta['cues'] to describe")
    style = _pick(f"{sample.id}/style", len(INSTRUCTIONS))
    spoken = sample.transcript or ""
    answer = describe(cues or sample.meta["cues"], style, spoken if include_transcript or not spoken.strip() else None)
    messages = chat_messages(sample, [], data_root, assistant_text=answer, include_transcript=include_transcript)
    text = INSTRUCTIONS[style]
    if include_transcript and sample.transcript and sample.transcript.strip():
        text = delimit("transcript", sample.transcript.strip()) + "\n" + text
    user = next(m for m in messages if m["role"] == "user")
    user["content"][-1] = {"type": "text", "text": text}
    return messages


def single_messages(sample: Sample, data_root: str | Path, modality: str, cue: str | None = None) -> list[dict]:
    """The chat of one modality alone: a face clip's frames (``vision``) or a clip's sound (``audio``), a request to
    describe it, and that modality's line of :func:`describe` for ``cue`` (default: the clip's own).

    The style is a fixed choice per clip, from a hash of its id, as in :func:`description_messages`;
    the voice row shows the clip's sound (its audio file, else its video's sound track) as audio, without its
    frames or its transcript.
    """
    if modality not in ("vision", "audio"):
        raise ValueError(f"one-modality rows are for vision or audio, not {modality!r}")
    style = _pick(f"{sample.id}/style", len(INSTRUCTIONS))
    cue = cue or sample.meta["cues"][modality]
    line = describe({"vision": "neutral", "audio": "neutral", "text": "neutral", modality: cue}, style, None)
    alone = dataclasses.replace(sample, video=None, audio=sample.audio or sample.video, transcript=None, meta={}) \
        if modality == "audio" else dataclasses.replace(sample, audio=None, transcript=None,
                                                       meta={"audio_in_video": False})
    messages = chat_messages(alone, [], data_root, assistant_text=line.splitlines()[0 if modality == "vision" else 1],
                             include_transcript=False)
    user = next(m for m in messages if m["role"] == "user")
    user["content"][-1] = {"type": "text", "text": (FACE_INSTRUCTIONS if modality == "vision" else VOICE_INSTRUCTIONS)[style]}
    return messages


def skill_rows(root: str | Path, n: int, seed: int, answer: str = "letter") -> list[dict[str, str]]:
    """``n`` SynthBench questions of ``seed`` as chat rows, their media under ``root``.

    They ask what the benchmark asks (OmniBench's chat, :func:`emoomni.data.omnibench.question_messages`) about
    other pictures and sounds, answered with the option's ``letter`` or its text (``option``); the items are
    generated once and read back afterwards.
    """
    if answer not in ("letter", "option"):
        raise ValueError(f"skill answers are 'letter' or 'option', got {answer!r}")
    root = Path(root)
    if not (root / synthbench.ITEMS_FILE).exists():
        synthbench.generate(root, n, seed)
    return list(_skill_rows(root, n, seed, answer, (root / synthbench.ITEMS_FILE).stat().st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _skill_rows(root: Path, n: int, seed: int, answer: str, _mtime_ns: int) -> tuple[dict[str, Any], ...]:
    """:func:`skill_rows` once per process and items file: indexing probes each item's media (seconds for 1,500)."""
    items = omnibench.index(root)[0]
    return tuple(chat_row(f"skill/{seed}/{item.id}", [*omnibench.question_messages(item, root),
                                                 {"role": "assistant", "content": [{"type": "text", "text":
                                                     item.letter if answer == "letter" else item.answer}]}])
                 for item in items[:n])


def language_rows(n: int, seed: int) -> list[dict[str, str]]:
    """``n`` text-only rows: a transcript to quote and the emotion its wording carries, in the description styles.

    The sentences come from SynthEmo's own sentence generator, with their own random stream (no clip's
    transcript is drawn from it), emotions taken in turn; the answer is the words line of
    :func:`describe`. This is the tiny base's language: copying a delimited quote and reading the
    emotion of words, which a real base model knows before it ever sees a clip.

    >>> rows = language_rows(3, seed=0)
    >>> [r["id"] for r in rows]
    ['language-00000', 'language-00001', 'language-00002']
    >>> json.loads(rows[1]["messages"])[-1]["content"][0]["text"].startswith('The speaker says: "')
    True
    """
    import numpy as np

    rng = np.random.default_rng([seed, 0x1A96])
    rows = []
    for i in range(n):
        # every style with every emotion: a style tied to the row's emotion would give the answer away
        emotion, style = CLASSES[i % len(CLASSES)], (i // len(CLASSES)) % len(LANGUAGE_INSTRUCTIONS)
        words = sentence(emotion, rng)
        answer = describe({"vision": "neutral", "audio": "neutral", "text": emotion}, style, words).splitlines()[-1]
        rows.append(chat_row(f"language-{i:05d}", [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": [{"type": "text",
                                          "text": delimit("transcript", words) + "\n" + LANGUAGE_INSTRUCTIONS[style]}]},
            {"role": "assistant", "content": [{"type": "text", "text": answer}]}]))
    return rows


@dataclass(frozen=True)
class PretrainSettings(TrainerSettings):
    """Description pre-training of the tiny base (full fine-tuning): the shared trainer block and its data."""

    split: str = "pretrain"
    """The SynthEmo split to train on (disjoint from the SFT and test splits)."""
    max_samples: int | None = 300
    """Clips used (the first ones of the split); None: all."""
    learning_rate: float = 3e-3
    """Peak learning rate (AdamW); 3e-3 learned the description format faster than 1e-3 or 1e-2 on the tiny model."""
    lr_scheduler: str = "cosine"
    warmup: float = 0.03
    per_device_batch_size: int = 8
    epochs: float = 2.0
    save_steps: int = 25
    save_total_limit: int | None = 1
    logging_steps: int = 5
    language_samples: int = 0
    """Text-only rows (:func:`language_rows`) of the language phase, one pass before the descriptions; 0 skips it."""
    language_batch_size: int = 16
    language_replay: int = 0
    """Further language rows mixed into every description epoch, so that the copying learned first is kept."""
    encoders: EncoderSettings = when_set(EncoderSettings())
    """The encoder phase before everything else (:mod:`emoomni.train.encoders`); its towers stay frozen after."""
    single_rows: bool = when_set(False)
    """Add one-modality rows to the descriptions (:func:`single_messages`): every learning face clip of the
    encoder phase, frames only, and every clip's sound alone."""
    skill_items: int = when_set(0)
    """General questions joining the descriptions (:func:`skill_rows`): SynthBench items of ``skill_seed`` (colour,
    shape, counting, position, pitch, beeps, sound type, the spoken word), answered as ``skill_answer`` says.
    Measured on the default profile (``benchmarks/base_skills.py``; the base without them: SynthBench 22 %
    by letter, 25 % by option text; face, voice and words read on 80.0, 87.5 and 87.5 % of 120 test clips):
    1,500 letter rows with both towers learning the skills, 25 / 32 % and 40.8 / 70.0 / 83.3 %; 1,500 option
    rows with the audio tower learning them, 46 % by option text (the sound questions answered, the pictures
    and the spoken word not) and 67.5 / 69.2 / 60.8 %; 500 such rows, 33 % and 85.0 / 63.3 / 88.3 %. Every
    variant costs perception, so the default has none."""
    skill_questions: int | None = when_set(None)
    """How many of the skill items join the descriptions as questions: None, all of them; 0, none, so that
    the towers can learn the items' attributes (``encoders.skills``) while the language model is not asked.
    So learned by the vision tower alone (weight 0.1), with four description epochs and 12,800 language rows,
    1,500 items gave the first base that reads the face, the voice and the words of 90 % or more of 120 test
    clips (90.0, 90.8 and 99.2 %; the README, "What reaches 90 %")."""
    skill_seed: int = when_set(1000)
    """The seed of those items; SynthBench, the benchmark, draws its items from seed 0."""
    skill_answer: str = when_set("letter")
    """How the skill rows answer: the option's ``letter`` or its text (``option``, read back by
    ``omnibench.mode: option``)."""
    skill_phase_epochs: float = when_set(0.0)
    """A last phase after the descriptions: the ``skill_items`` asked as questions, answered as
    ``skill_phase_answer`` says (the option text: read it back with ``omnibench.mode: option``), the first
    ``skill_phase_replay`` description clips mixed in, both towers frozen, at ``skill_phase_learning_rate``;
    0 skips it. Measured on the default base (``benchmarks/skill_learning.py``, the README): ten epochs
    raised SynthBench from 25 to 62 % (six: 54 %), the sounds answered and the pictures near chance, while
    the face, voice and words stayed read (89.2, 89.2 and 98.3 % of 120 test clips; the base 90.0, 87.5
    and 98.3 %); at the descriptions' 3e-3 the pictures stayed at chance."""
    skill_phase_learning_rate: float = when_set(3e-4)
    skill_phase_replay: int = when_set(300)
    skill_phase_answer: str = when_set("option")

    def before_skill_phase(self) -> PretrainSettings:
        """These settings with the skill phase's fields at their defaults: what the phases before it depend on."""
        return dataclasses.replace(self, **{f.name: f.default for f in dataclasses.fields(self)
                                            if f.name.startswith("skill_phase_")})

    def skill_phase_dir(self) -> str:
        """The skill phase's folder beside the descriptions' model, named by its own fields.

        >>> PretrainSettings(skill_phase_epochs=6.0).skill_phase_dir()
        'skills-576cd3c92e'
        """
        fields = {k: v for k, v in key_dict(self).items() if k.startswith("skill_phase_")}
        return "skills-" + hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


def pretrain_base(tiny_model_dir: str | os.PathLike, samples: Sequence[Sample], data_root: str | Path,
                  out_dir: str | Path, settings: PretrainSettings = PretrainSettings()) -> Path:
    """Encoder phase (when ``encoders`` has steps), language phase (when ``language_samples``), descriptions,
    then the skill phase (when ``skill_phase_epochs``).

    The language phase trains ``tiny_model_dir`` into ``out_dir/language/model``; the descriptions
    continue from there into ``out_dir/model``, the skill phase from that into
    ``out_dir/<skill_phase_dir>/model``; the last one is returned.
    """
    s = settings
    out = Path(out_dir)
    chosen = [x for x in samples if x.split == s.split]
    if not chosen:
        raise ValueError(f"no samples in split {s.split!r}")
    chosen = chosen[: s.max_samples] if s.max_samples else chosen
    rows = [chat_row(x.id, description_messages(x, data_root, s.include_transcript)) for x in chosen]
    e = s.encoders
    clip, workers = SynthEmoConfig(frames=e.frames, fps=e.fps, size=e.frame_size), min(4, os.cpu_count() or 1)
    faces, faces_root = [], out / f"faces-s{e.seed}-{e.frames}f-{e.frame_size}px-{e.fps:g}fps"
    if e.faces and ("vision" in e.modalities or s.single_rows):
        faces = face_clips(faces_root, e.faces + e.faces // 10, e.seed, clip, workers)
    voices, voices_root = [], out / f"voices-s{e.seed}-{e.frames}f-{e.fps:g}fps"
    if e.voices and ("audio" in e.modalities or s.single_rows):
        voices = voice_clips(voices_root, e.voices, e.seed, clip, workers)
    if s.single_rows:
        rows += [chat_row(f"{x.id}/face", single_messages(x, faces_root, "vision")) for x in faces[: e.faces]]
        rows += [chat_row(f"{x.id}/voice", single_messages(x, data_root, "audio")) for x in chosen]
        rows += [chat_row(f"{x.id}/voice", single_messages(x, voices_root, "audio")) for x in voices]
    skills_root = out / f"skills-s{s.skill_seed}-n{s.skill_items}"
    if e.skills and not s.skill_items:
        raise ValueError("encoders.skills needs skill_items: the towers learn the attributes of those items")
    if s.skill_phase_epochs and not s.skill_items:
        raise ValueError("skill_phase_epochs needs skill_items: the skill phase asks those items")
    if s.skill_questions is not None and not 0 <= s.skill_questions <= s.skill_items:
        raise ValueError(f"skill_questions must lie between 0 and skill_items ({s.skill_items}), got {s.skill_questions}")
    asked = s.skill_items if s.skill_questions is None else s.skill_questions
    if asked:
        rows += skill_rows(skills_root, s.skill_items, s.skill_seed, s.skill_answer)[:asked]
    elif s.skill_items and not (skills_root / synthbench.ITEMS_FILE).exists():
        synthbench.generate(skills_root, s.skill_items, s.skill_seed)  # for the towers only: no read-back check
    start, earlier = Path(tiny_model_dir), s.before_skill_phase()  # the skill phase's fields change no earlier phase
    if e.modalities:
        plans = [synthbench.plan(i, s.skill_seed) for i in range(s.skill_items)] if e.skills else []
        start = pretrain_encoders(start, samples, data_root, out / "encoders", e, split=s.split, faces=faces,
                                  faces_root=faces_root, skills=plans, skills_root=skills_root, voices=voices,
                                  voices_root=voices_root)
    if s.language_samples:
        language = dataclasses.replace(earlier, per_device_batch_size=s.language_batch_size, epochs=1.0, max_steps=-1)
        text = language_rows(s.language_samples + s.language_replay, s.seed)  # one stream: replay rows come after
        start = train_full(start, text[: s.language_samples], out / "language", language, "base language pre-training")
        rows += text[s.language_samples:]
    described = train_full(start, rows, out, earlier, "base pre-training", s.encoders.modalities)
    if not s.skill_phase_epochs:
        return described
    phase = dataclasses.replace(s, learning_rate=s.skill_phase_learning_rate, epochs=s.skill_phase_epochs, max_steps=-1)
    asked = skill_rows(skills_root, s.skill_items, s.skill_seed, s.skill_phase_answer)  # then descriptions replayed
    return train_full(described, asked + rows[: min(s.skill_phase_replay, len(chosen))], out / s.skill_phase_dir(),
                      phase, "base skill pre-training", ("vision", "audio"))


def train_full(model_dir: Path, rows: list[dict], out: Path, s: PretrainSettings, what: str,
               freeze: Sequence[str] = ()) -> Path:
    """Full fine-tuning of ``model_dir`` on chat ``rows`` into ``out/model`` (cached, resumable), ``freeze``'s towers fixed."""
    key = data_key(rows)
    done = finished(out, s, key, model_dir, "model", META)
    if done is not None:
        ledger.note(what, done, reused=True)
        return done
    run = {"base_model": source_id(model_dir), "data_key": key, "settings": key_dict(s)}
    check_out_dir(out, run)
    model, processor = load_omni(model_dir)
    for modality in freeze:  # towers pre-trained with their own objective keep what they learned
        for param in tower(model, modality).parameters():
            param.requires_grad = False
    args = training_args(out, s)
    trainer = make_trainer(model, processor, rows, None, args, s.fps, s.frame_size)
    state = run_training(trainer, out)
    target = out / "model"
    trainer.save_model(str(target))
    if trainer.is_world_process_zero():
        (target / "training_args.bin").unlink(missing_ok=True)
        processor.save_pretrained(str(target))
        meta = {**run, "n_train": len(rows), "train_ids": [r["id"] for r in rows], **state}
        (target / META).write_text(json.dumps(meta, indent=1, default=str))
    trainer.accelerator.wait_for_everyone()
    ledger.note(what, target, reused=False)
    return target


def description_scores(model: Any, processor: Any, sample: Sample, data_root: str | Path, modality: str,
                       batch_size: int = 6) -> dict[str, float]:
    """Per cue: the summed log-probability of the clip's description with ``modality``'s cue replaced by it."""
    chats = [description_messages(sample, data_root, cues={**sample.meta["cues"], modality: cue}) for cue in CLASSES]
    scores: list[float] = []
    for i in range(0, len(chats), batch_size):
        scores += reply_log_probs(model, processor, chats[i:i + batch_size])[0].tolist()
    return dict(zip(CLASSES, scores))


def cue_recognition(model: Any, processor: Any, samples: Sequence[Sample], data_root: str | Path,
                    modalities: Sequence[str] = ("vision", "audio", "text")) -> dict[str, dict]:
    """How often the model's likeliest description names each clip's own face, voice or words cue (held-out clips).

    For each clip and modality, the clip's description (:func:`description_messages`) is scored with
    that modality's cue replaced by each of the six (:func:`description_scores`); the likeliest is the
    model's reading. Returns per modality ``{"accuracy", "n", "chance", "confusion"}``, the confusion as
    ``{designed cue: {read cue: count}}``.
    """
    model.eval()
    hits: dict[str, list[bool]] = {m: [] for m in modalities}
    confusion: dict[str, dict[str, dict[str, int]]] = {m: {c: dict.fromkeys(CLASSES, 0) for c in CLASSES}
                                                       for m in modalities}
    for sample in tqdm(samples, desc="cue recognition"):
        for modality in modalities:
            scores = description_scores(model, processor, sample, data_root, modality)
            read, cue = max(scores, key=scores.__getitem__), sample.meta["cues"][modality]
            hits[modality].append(read == cue)
            confusion[modality][cue][read] += 1
    return {m: {"accuracy": sum(h) / len(h) if h else float("nan"), "n": len(h), "chance": 1 / len(CLASSES),
                "confusion": confusion[m]} for m, h in hits.items()}
