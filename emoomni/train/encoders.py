"""Encoder pre-training: the tiny thinker's vision and audio towers learn to tell the designed cues apart first.

Why. Qwen2.5-Omni starts from separately pretrained vision and audio encoders; the tiny thinker's towers
start random, and trained only through the language model's description loss they read the face cue
of about a third of held-out clips. This phase gives each tower its own objective before any language
is involved: temporary probes (LayerNorm and a linear layer over the tower's output tokens pooled by
their mean and maximum, and over their mean alone; ``probes``) learn, together with the tower, the
six-way cue of its modality. The probes are then thrown away; the towers keep what they learned.

Why the mean. The language model reads the tokens through attention, which averages far more easily
than it picks out a few tokens. Trained with the mean-and-maximum probe alone (600 steps at 1e-3), the
vision tower held the face cue in a few tokens: probes fitted on 300 pre-training clips and scored on
300 test clips read 90.0 % from the tokens' maximum and 72.7 % from their mean
(:func:`emoomni.evaluate.tower_probe.tower_separability`), and the base read the face of 63.3 % of the
test clips. With the probe on the mean added (1,200 steps at 2e-3) the mean holds 89.3 % and the base
reads 89.2 %.

Data. Vision: face-only clips (:mod:`emoomni.data.synthemo.faces`: SynthEmo's renderer, frame count
and H.264 encoding, random people, a random stream of their own, so no SynthEmo clip is ever seen),
``faces`` to learn from and ``faces // 10`` more to measure; they are decoded and processed once and held
in memory (the video processor's patches: 1.2 MB a 112-pixel clip, 2.6 GB for the default's 2,200), so
that a step only runs the tower.
(Two rendered apex frames in memory taught a tower whose probe read 91.5 % of unseen rendered faces
but whose features, read by the same kind of probe, gave 79 % on SynthEmo's encoded eight-frame clips.)
Audio: the voices of the ``split`` clips (the
``pretrain`` split, disjoint from every clip SFT, GRPO or evaluation uses), the last ``holdout`` of
them kept aside to measure the probe, and ``voices`` voice-only clips (:mod:`emoomni.data.synthemo.voices`)
that it learns from too. What the probe reaches on unseen faces and voices is written
beside the model (``encoders.json``).

Skills (``skills``). General questions ask what a picture or a sound shows, which a tower trained on faces
and voices alone never needed to keep. Every step also gives each tower named in ``skills`` a batch of
the pre-training's SynthBench-style items (another seed than the benchmark's) with a probe per pooling
over their attributes (:func:`emoomni.data.synthbench.attributes`), so the tower learns them beside its cue.
Measured on the default profile with 1,500 items of seed 1000, both towers learning them (300 held out):
the audio tower reads the sound's kind, pitch contour, beep count and word on every held-out item and its
voice probe stays at 85 % (88 % without); the vision tower reads the colour of 99 %, the count of 75 %,
the corner of 77 % and the shape of 32 %, and its face probe falls from 92.0 to 69.5 % (mean and
maximum): the two-block, 64-wide tower cannot hold both, so the default's vision tower learns faces only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emoomni import ledger
from emoomni.data import synthbench
from emoomni.data.synthbench import NONE
from emoomni.data.manifest import Sample, resolve_media
from emoomni.data.synthemo.design import CLASSES
from emoomni.model import load_omni
from emoomni.model.inputs import SAMPLE_RATE, load_audio, load_video, video_size
from emoomni.progress import tqdm
from emoomni.settings import key_dict, when_set
from emoomni.train.runs import source_id

log = logging.getLogger(__name__)

META = "encoders.json"


@dataclass(frozen=True)
class EncoderSettings:
    """The encoder phase of the tiny base: optimizer steps per tower (batches of ``batch_size``); 0 skips a tower."""

    vision_steps: int = 0
    audio_steps: int = 0
    batch_size: int = 32
    learning_rate: float = 1e-3
    faces: int = 3000
    """Rendered faces the vision tower learns from (plus ``faces // 10`` more, unseen, to measure it)."""
    holdout: float = 0.2
    """Fraction of the ``split``'s voices kept aside to measure the audio tower."""
    voices: int = when_set(0)
    """Voice-only clips (:mod:`emoomni.data.synthemo.voices`) the audio tower learns from beside the ``split``'s
    voices; with ``single_rows`` the descriptions also ask each of them for its voice."""
    frame_size: int = 112
    frames: int = 8
    """Frames per face clip, as SynthEmo's clips."""
    fps: float = 4.0
    """Frame rate of the face clips, as SynthEmo's clips."""
    seed: int = 0
    skills: tuple[str, ...] = when_set(())
    """The towers (``vision``, ``audio``) that also learn what the pictures and sounds of general questions show
    (colour, shape, count and corner; sound type, pitch contour, beep count and spoken word), one batch of them
    beside every batch of cues (:func:`skill_tasks`), as a real Omni model's encoders were pretrained on
    general images and sounds."""
    skills_weight: float = when_set(1.0)
    """The factor on the skills' loss (summed over their four heads and the poolings) beside the cue's (one head):
    0.25 gives a skill head the weight of the cue."""
    probes: tuple[str, ...] = ("mean and max", "mean")
    """The poolings of a clip's output tokens (names in :data:`POOLS`) that each get a throw-away probe, their
    losses summed; the probe on the mean spreads the cue over the tokens (see the module docstring)."""

    def __post_init__(self) -> None:
        unknown = [p for p in self.probes if p not in POOLS]
        if unknown or not self.probes:
            raise ValueError(f"encoder probes must be a non-empty list of {sorted(POOLS)}, got {list(self.probes)}")
        if not set(self.skills) <= set(self.modalities):
            raise ValueError(f"encoder skills are learned by a vision or audio tower this phase trains ({self.modalities}), "
                             f"got {list(self.skills)}")

    @property
    def modalities(self) -> tuple[str, ...]:
        """The towers this phase trains."""
        return tuple(m for m, n in (("vision", self.vision_steps), ("audio", self.audio_steps)) if n > 0)


POOLS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mean": lambda x: x.mean(0),
    "max": lambda x: x.amax(0),
    "mean and max": lambda x: torch.cat([x.mean(0), x.amax(0)]),
}
"""Ways to pool one clip's output tokens into one vector, for a probe."""


def pooled(items: Sequence[torch.Tensor], pool: str) -> torch.Tensor:
    """Per item, its output tokens pooled by ``pool`` (a name in :data:`POOLS`), stacked."""
    return torch.stack([POOLS[pool](x) for x in items])


def _per_clip(tokens: torch.Tensor | Sequence[torch.Tensor], counts: Sequence[int]) -> Sequence[torch.Tensor]:
    """A tower's output tokens per clip, from one tensor of all clips' tokens or from a sequence already per clip."""
    return torch.split(tokens, list(counts)) if torch.is_tensor(tokens) else tokens


def vision_inputs(processor: Any, clips: Iterable[np.ndarray], size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per clip (frames, height, width, 3), its patches and grid from the video processor, computed once.

    Each clip is processed alone, which gives the same values bit for bit as processing it in a batch
    (tested); the vision phase then reuses them every step instead of processing its batch again.
    """
    size_ = video_size(processor, size)
    out = []
    for clip in clips:
        vp = processor.video_processor(videos=[clip], size=size_, do_sample_frames=False, return_tensors="pt")
        out.append((vp["pixel_values_videos"], vp["video_grid_thw"]))
    return out


def video_tokens(model: Any, processor: Any, items: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Sequence[torch.Tensor]:
    """Per :func:`vision_inputs` item, the vision tower's output tokens: what the language model reads."""
    grid = torch.cat([g for _, g in items])
    out = model.get_video_features(torch.cat([x for x, _ in items]), grid)
    merge = processor.video_processor.merge_size ** 2
    return _per_clip(out.pooler_output, (grid.prod(-1) // merge).tolist())


def vision_tokens(model: Any, processor: Any, clips: Sequence[np.ndarray], size: int) -> Sequence[torch.Tensor]:
    """Per clip (frames, height, width, 3), the vision tower's output tokens: what the language model reads."""
    return video_tokens(model, processor, vision_inputs(processor, clips, size))


def audio_inputs(processor: Any, waves: Sequence[np.ndarray]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per 16 kHz waveform, its log-mel features and their mask, computed once (the features never change)."""
    out = []
    for i in range(0, len(waves), 32):
        f = processor.feature_extractor(list(waves[i:i + 32]), sampling_rate=SAMPLE_RATE, return_attention_mask=True,
                                        padding="longest", return_tensors="pt")
        out += list(zip(f["input_features"], f["attention_mask"]))
    return out


def audio_tokens(model: Any, items: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Sequence[torch.Tensor]:
    """Per :func:`audio_inputs` item, the audio tower's output tokens: what the language model reads."""
    width = max(int(mask.shape[-1]) for _, mask in items)
    pad = lambda x: torch.nn.functional.pad(x, (0, width - x.shape[-1]))  # noqa: E731
    features = torch.stack([pad(f) for f, _ in items])
    mask = torch.stack([pad(m) for _, m in items])
    out = model.get_audio_features(features, feature_attention_mask=mask)
    lengths = model.model.audio_tower._get_feat_extract_output_lengths(mask.sum(-1))
    lengths = lengths[1] if isinstance(lengths, tuple) else lengths
    return _per_clip(out.pooler_output, lengths.tolist())


def tower(model: Any, modality: str) -> torch.nn.Module:
    """The thinker's vision or audio tower."""
    return model.model.visual if modality == "vision" else model.model.audio_tower


@dataclass
class Task:
    """One thing a tower learns with its own probes: inputs, per item a class per head (or :data:`NONE`), held-out items."""

    items: Sequence[Any]
    targets: torch.Tensor
    heads: dict[str, int]
    """Head name -> number of classes, in the order of ``targets``' columns."""
    held: Sequence[Any]
    held_targets: torch.Tensor
    tokens: Callable[[Sequence[Any]], Sequence[torch.Tensor]]
    """Items -> the tower's output tokens per item."""


def _probe_loss(logits: torch.Tensor, targets: torch.Tensor, heads: dict[str, int]) -> torch.Tensor:
    """Cross-entropy summed over heads (their logits side by side), items without a head's class ignored."""
    parts = torch.split(logits, list(heads.values()), dim=-1)
    return sum(torch.nn.functional.cross_entropy(z, targets[:, j], ignore_index=NONE) for j, z in enumerate(parts))


def _head_accuracy(logits: torch.Tensor, targets: torch.Tensor, heads: dict[str, int]) -> dict[str, float]:
    """Per head, the share of the items that have a class whose likeliest class is it."""
    out = {}
    for j, (name, z) in enumerate(zip(heads, torch.split(logits, list(heads.values()), dim=-1))):
        have = targets[:, j] != NONE
        out[name] = float((z.argmax(-1)[have] == targets[have, j]).float().mean()) if have.any() else float("nan")
    return out


def train_tower(model: Any, modality: str, tasks: dict[str, Task], steps: int, s: EncoderSettings) -> dict[str, Any]:
    """Train one tower for ``steps`` steps, a batch of every task per step, each task with a throw-away probe per
    pooling of ``s.probes`` (all losses summed).

    Returns per task its final training loss and, per pooling, its probe's held-out accuracy (per head when
    the task has several).
    """
    h = model.config.text_config.hidden_size
    generator = torch.Generator().manual_seed(s.seed)
    widths = {pool: POOLS[pool](torch.zeros(1, h)).numel() for pool in s.probes}
    probes = {name: {pool: torch.nn.Sequential(torch.nn.LayerNorm(w), torch.nn.Linear(w, sum(task.heads.values())))
                     for pool, w in widths.items()} for name, task in tasks.items()}
    encoder = tower(model, modality)
    params = [p for per in probes.values() for probe in per.values() for p in probe.parameters()]
    optimizer = torch.optim.AdamW([*encoder.parameters(), *params], lr=s.learning_rate)
    encoder.train()
    losses = {name: torch.tensor(float("nan")) for name in tasks}
    for _ in tqdm(range(steps), desc=f"{modality} encoder steps"):
        for name, task in tasks.items():
            idx = torch.randint(len(task.items), (s.batch_size,), generator=generator)
            out = task.tokens([task.items[i] for i in idx])
            losses[name] = sum(_probe_loss(probe(pooled(out, pool)), task.targets[idx], task.heads)
                               for pool, probe in probes[name].items())
        optimizer.zero_grad()
        sum(loss * (s.skills_weight if name == "skills" else 1.0) for name, loss in losses.items()).backward()
        optimizer.step()
    encoder.eval()
    result = {}
    with torch.no_grad():
        for name, task in tasks.items():
            out = [t for i in range(0, len(task.held), 32) for t in task.tokens(task.held[i:i + 32])]
            accuracy = {pool: _head_accuracy(probe(pooled(out, pool)), task.held_targets, task.heads) if out
                        else dict.fromkeys(task.heads, float("nan")) for pool, probe in probes[name].items()}
            if list(task.heads) == ["cue"]:
                accuracy = {pool: a["cue"] for pool, a in accuracy.items()}
            result[name] = {"final_loss": losses[name].item(), "held_out_accuracy": accuracy,
                            "n_train": len(task.items), "n_held_out": len(task.held)}
    return result


def cue_task(items: Sequence[Any], labels: Sequence[int], cut: int, tokens: Callable) -> Task:
    """The designed cue of face clips or voices as a one-head task: the first ``cut`` items learn, the rest measure."""
    target = torch.tensor(list(labels))[:, None]
    return Task(items[:cut], target[:cut], {"cue": len(CLASSES)}, items[cut:], target[cut:], tokens)


def skill_tasks(model: Any, processor: Any, plans: Sequence[synthbench.Plan], root: str | Path,
                holdout: float, modalities: Sequence[str] = ("vision", "audio")) -> dict[str, Task]:
    """The pictures' and sounds' attributes of SynthBench items under ``root`` (:func:`emoomni.data.synthbench.attributes`).

    Item ``i``'s media are ``mm_data/image/<i>.png`` and ``mm_data/audio/<i>.wav``, processed as the
    benchmark's chat processes them; the last ``holdout`` of the items measure the probes.
    """
    from PIL import Image

    root = Path(root)
    cut = len(plans) - int(round(holdout * len(plans)))
    attrs = [synthbench.attributes(p) for p in plans]
    images, sounds = [], []
    for i in tqdm(range(len(plans)) if "vision" in modalities else [], desc="skill pictures"):
        with Image.open(root / "mm_data" / "image" / f"{i:04d}.png") as image:
            ip = processor.image_processor(images=[image.convert("RGB")], return_tensors="pt")
        images.append((ip["pixel_values"], ip["image_grid_thw"]))
    if "audio" in modalities:
        sounds = audio_inputs(processor, [load_audio(str(root / "mm_data" / "audio" / f"{i:04d}.wav"))
                                          for i in range(len(plans))])
    out = {}
    for modality, medium, heads, items, tokens in (
            ("vision", "image", synthbench.IMAGE_HEADS, images, lambda b: image_tokens(model, b)),
            ("audio", "sound", synthbench.SOUND_HEADS, sounds, lambda b: audio_tokens(model, b))):
        if modality not in modalities:
            continue
        target = torch.tensor([[a[medium][k] for k in heads] for a in attrs])
        out[modality] = Task(items[:cut], target[:cut], {k: len(v) for k, v in heads.items()}, items[cut:],
                             target[cut:], tokens)
    return out


def image_tokens(model: Any, items: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Sequence[torch.Tensor]:
    """Per processed picture (patches, grid), the vision tower's output tokens: what the language model reads."""
    grid = torch.cat([g for _, g in items])
    out = model.get_image_features(torch.cat([x for x, _ in items]), grid)
    return _per_clip(out.pooler_output, (grid.prod(-1) // model.model.visual.spatial_merge_size ** 2).tolist())


def pretrain_encoders(model_dir: str | Path, samples: Sequence[Sample], data_root: str | Path, out_dir: str | Path,
                      settings: EncoderSettings, split: str = "pretrain", faces: Sequence[Sample] = (),
                      faces_root: str | Path | None = None, skills: Sequence[synthbench.Plan] = (),
                      skills_root: str | Path | None = None, voices: Sequence[Sample] = (),
                      voices_root: str | Path | None = None) -> Path:
    """Train the towers of ``model_dir`` (see the module docstring) into ``out_dir/model``; cached by settings and data.

    ``faces`` (under ``faces_root``) are the face clips of :func:`emoomni.data.synthemo.faces.face_clips`: the
    first ``settings.faces`` to learn from, the rest to measure the vision tower. ``skills`` are the plans of
    the SynthBench-style items under ``skills_root`` whose attributes the towers of ``settings.skills`` learn
    beside their cues. ``voices`` (under ``voices_root``) are voice-only clips
    (:func:`emoomni.data.synthemo.voices.voice_clips`) that the audio tower learns from beside the split's.
    """
    s, out = settings, Path(out_dir)
    own = [x for x in samples if x.split == split and x.video]  # the split's voices; ``voices`` are extra clips
    if "vision" in s.modalities and len(faces) <= s.faces:
        raise ValueError(f"the vision phase needs more than {s.faces} face clips (some held out), got {len(faces)}")
    if s.skills and len(skills) < 10:
        raise ValueError(f"the towers' skills need at least 10 items (some held out), got {len(skills)}")
    meta = {"base_model": source_id(model_dir), "settings": key_dict(s),
            "voices": [x.id for x in own] + [x.id for x in voices],
            "faces": [x.id for x in faces] if "vision" in s.modalities else []}
    if s.skills:
        meta["skills"] = hashlib.sha256(repr(list(skills)).encode()).hexdigest()[:16]
    done = out / "model" / META
    if done.exists() and {k: v for k, v in json.loads(done.read_text()).items() if k in meta} == \
            json.loads(json.dumps(meta)):
        ledger.note("base encoder pre-training", done.parent, reused=True)
        return done.parent
    start = time.perf_counter()
    torch.manual_seed(s.seed)
    model, processor = load_omni(model_dir)
    extra = skill_tasks(model, processor, skills, skills_root, s.holdout, s.skills) if s.skills else {}
    result: dict[str, Any] = {}
    tasks: dict[str, Task] = {}
    if "vision" in s.modalities:
        clips = vision_inputs(processor, (load_video(str(resolve_media(faces_root, x.video)), s.fps)
                                          for x in tqdm(faces, desc="decode faces")), s.frame_size)
        labels = [CLASSES.index(x.meta["cues"]["vision"]) for x in faces]
        tasks["vision"] = cue_task(clips, labels, s.faces, lambda b: video_tokens(model, processor, b))
    if "audio" in s.modalities:
        if not own:
            raise ValueError(f"no {split!r} clips with a sound track for the audio encoder")
        cut = len(own) - int(round(s.holdout * len(own)))  # the extra voices learn; the split's last ones measure
        ordered = [(data_root, x.video, x) for x in own[:cut]] + \
                  [(voices_root, x.audio, x) for x in voices] + [(data_root, x.video, x) for x in own[cut:]]
        waves = audio_inputs(processor, [load_audio(str(resolve_media(root, rel)))
                                         for root, rel, _ in tqdm(ordered, desc="decode voices")])
        classes = [CLASSES.index(x.meta["cues"]["audio"]) for _, _, x in ordered]
        tasks["audio"] = cue_task(waves, classes, cut + len(voices), lambda b: audio_tokens(model, b))
    for modality, task in tasks.items():
        both = {"cue": task, **({"skills": extra[modality]} if modality in extra else {})}
        trained = train_tower(model, modality, both, s.vision_steps if modality == "vision" else s.audio_steps, s)
        result[modality] = trained["cue"]
        if "skills" in trained:
            result[f"{modality} skills"] = trained["skills"]
        log.info("%s encoder: %s", modality, trained)
    target = out / "model"
    model.save_pretrained(str(target))
    processor.save_pretrained(str(target))
    (target / META).write_text(json.dumps({**meta, "probes": result, "seconds": time.perf_counter() - start},
                                          indent=1))
    log.info("encoder pre-training: %s", {m: r["held_out_accuracy"] for m, r in result.items()})
    ledger.note("base encoder pre-training", target, reused=False)
    return target
