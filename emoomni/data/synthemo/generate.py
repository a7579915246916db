"""Generate SynthEmo: clips, the manifest and the data card, in parallel and resumably."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from emoomni.progress import tqdm

from emoomni.data.manifest import Sample, read_manifest, write_manifest
from emoomni.data.synthemo import design, face, text, voice
from emoomni.records import write_lines

log = logging.getLogger(__name__)
GENERATOR_VERSION = 3  # 2: independent pretrain cues; 3: clearer expressions, larger faces, 2x supersampling


@dataclass(frozen=True)
class SynthEmoConfig:
    """Sizes, split fractions and condition mixtures of a SynthEmo set."""

    frames: int = 8
    """Video frames per clip."""
    fps: float = 4.0
    """Frames per second; the clip lasts frames / fps seconds."""
    size: int = 112
    """Frame width and height in pixels."""
    sample_rate: int = 16000
    """Audio sample rate (mono)."""
    shortcut: str = "vision"
    """The modality that is right on almost every training clip (used by the default mixtures)."""
    split_fractions: dict[str, float] = field(
        default_factory=lambda: {"pretrain": 0.25, "train": 0.45, "val": 0.05, "test": 0.25}
    )
    """Share of the clips in each split, in this order."""
    mixtures: dict[str, dict[str, float]] | None = None
    """Condition mixture per split; None means :func:`design.default_mixtures` for the shortcut."""
    dissenters: dict[str, dict[str, float]] | None = None
    """Dissenting-modality mixture of conflicts per split; None means the default for the shortcut."""
    voices: tuple[str, ...] = voice.VOICES
    """espeak-ng voice variants that speakers are drawn from."""

    @property
    def duration(self) -> float:
        """Clip length in seconds."""
        return self.frames / self.fps

    def resolved(self) -> "SynthEmoConfig":
        """The config with default mixtures filled in."""
        return SynthEmoConfig(**{**asdict(self), "voices": tuple(self.voices),
                                 "mixtures": self.mixtures or design.default_mixtures(self.shortcut),
                                 "dissenters": self.dissenters or design.default_dissenters(self.shortcut)})


def pretrain_equivalent(config: SynthEmoConfig) -> SynthEmoConfig:
    """The config with the default shortcut and mixtures that plans the same ``pretrain`` clips, else ``config``.

    A split's clips depend only on its own mixture and dissenters (besides the sizes, fractions and
    voices), so sets that differ in the shortcut or in other splits' mixtures share their pre-training
    clips, and the tiny base pre-trained on them.

    >>> pretrain_equivalent(SynthEmoConfig(shortcut="audio")) == SynthEmoConfig()
    True
    >>> odd = SynthEmoConfig(mixtures={**SynthEmoConfig().resolved().mixtures, "pretrain": {"agree": 1.0}})
    >>> pretrain_equivalent(odd) == odd
    True
    """
    canonical = replace(config, shortcut=SynthEmoConfig.shortcut, mixtures=None, dissenters=None)
    mine, theirs = config.resolved(), canonical.resolved()
    same = all(getattr(mine, f).get("pretrain") == getattr(theirs, f).get("pretrain") for f in ("mixtures", "dissenters"))
    return canonical if same else config


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render one clip, decided up front from the seed."""

    index: int
    split: str
    gold: str | None
    condition: str
    cues: dict[str, str]
    dissenter: str | None
    sentence: str
    voice: str
    pitch_offset: int
    seed: int

    @property
    def id(self) -> str:
        """The sample id (no label or condition in it)."""
        return f"synthemo-{self.index:05d}"


def quotas(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` into integer counts proportional to ``weights`` (largest remainder).

    >>> quotas(10, {"a": 0.45, "b": 0.45, "c": 0.1})
    {'a': 5, 'b': 4, 'c': 1}
    """
    names = list(weights)
    w = np.array([weights[k] for k in names], dtype=float)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum: {weights}")
    exact = total * w / w.sum()
    base = np.floor(exact).astype(int)
    order = np.argsort(-(exact - base), kind="stable")
    base[order[: total - base.sum()]] += 1
    return {k: int(v) for k, v in zip(names, base)}


def plan(n: int, seed: int, config: SynthEmoConfig) -> list[ClipSpec]:
    """Decide every clip's split, condition, gold label, cues, sentence and speaker from the seed."""
    cfg = config.resolved()
    specs: list[ClipSpec] = []
    for s, (split, m) in enumerate(quotas(n, cfg.split_fractions).items()):
        rng = np.random.default_rng([seed, s])
        conds = [c for c, k in quotas(m, cfg.mixtures[split]).items() for _ in range(k)]
        golds: dict[str, list[str]] = {}
        for c in sorted(set(conds)):
            allowed = [k for k in design.CLASSES if not (c in design.NEUTRALISES and k == "neutral")]
            count = conds.count(c)
            start = int(rng.integers(len(allowed)))
            golds[c] = [allowed[(start + i) % len(allowed)] for i in range(count)]
            rng.shuffle(golds[c])
        n_conflict = conds.count("conflict")
        dissent = [d for d, k in quotas(n_conflict, cfg.dissenters[split]).items() for _ in range(k)] if n_conflict else []
        rng.shuffle(dissent)
        rng.shuffle(conds)
        for i, c in enumerate(conds):
            index = len(specs)
            clip_rng = np.random.default_rng([seed, s, i])
            gold = golds[c].pop()
            dissenter = other = None
            if c == "conflict":
                dissenter = dissent.pop()
                choices = [k for k in design.CLASSES if k not in (gold, "neutral")]
                other = choices[int(clip_rng.integers(len(choices)))]
            if c == design.INDEPENDENT:
                cues = design.independent_cues(clip_rng)
                gold = design.majority(cues)
            else:
                cues = design.cues_for(c, gold, dissenter, other)
            specs.append(ClipSpec(
                index=index, split=split, gold=gold, condition=c, cues=cues, dissenter=dissenter,
                sentence=text.sentence(cues["text"], clip_rng), voice=str(clip_rng.choice(cfg.voices)),
                pitch_offset=int(clip_rng.integers(-5, 6)), seed=int(clip_rng.integers(2**31)),
            ))
    return specs


def render_clip(spec: ClipSpec, out_dir: Path, config: SynthEmoConfig) -> Sample:
    """Render one clip's frames and speech, mux them into an mp4 and return its Sample."""
    rng = np.random.default_rng(spec.seed)
    ident = face.Identity.sample(rng)
    frames = face.render_clip(spec.cues["vision"], ident, config.frames, config.size, rng)
    rel = f"clips/{spec.id}.mp4"
    dest = out_dir / rel
    with tempfile.TemporaryDirectory(dir=out_dir / ".tmp") as tmp:
        wav = os.path.join(tmp, "speech.wav")
        speech_seconds, rate_scale = voice.synthesize_fitting(
            spec.sentence, spec.cues["audio"], spec.voice, spec.pitch_offset, wav, config.duration - 0.1)
        part = os.path.join(tmp, "clip.mp4")
        mux(frames, wav, part, config)
        os.replace(part, dest)
    S = config.size
    box = [ident.cx * S - ident.scale * S, ident.cy * S - ident.scale * ident.aspect * S,
           ident.cx * S + ident.scale * S, ident.cy * S + ident.scale * ident.aspect * S]
    return Sample(
        id=spec.id, dataset="synthemo", split=spec.split, video=rel, audio=None, transcript=spec.sentence,
        label=spec.gold,
        meta={"audio_in_video": True, "condition": spec.condition, "cues": spec.cues, "dissenter": spec.dissenter,
              "voice": spec.voice, "speech_seconds": round(speech_seconds, 3),
              "rate_scale": round(rate_scale, 3), "face_box": [round(v, 2) for v in box]},
    )


def mux(frames: np.ndarray, wav: str | None, out: str, config: SynthEmoConfig) -> None:
    """Encode frames (H.264) and speech (AAC, mono, padded or cut to the clip length) into an mp4; no sound without ``wav``."""
    n, h, w, _ = frames.shape
    video = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(config.fps), "-i", "pipe:0"]
    sound = ["-i", wav, "-map", "0:v", "-map", "1:a"] if wav else []
    audio = ["-c:a", "aac", "-b:a", "48k", "-ar", str(config.sample_rate), "-ac", "1",
             "-af", f"apad=whole_dur={config.duration}", "-t", str(config.duration)] if wav else []
    cmd = [
        voice.require("ffmpeg"), "-v", "error", "-y", *video, *sound,
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-threads", "1", *audio,
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", out,
    ]
    subprocess.run(cmd, input=frames.tobytes(), check=True, capture_output=True)


def _render_job(args: tuple[ClipSpec, str, SynthEmoConfig]) -> str:
    spec, out_dir, config = args
    return render_clip(spec, Path(out_dir), config).to_json()


def fingerprint(n: int, seed: int, config: SynthEmoConfig) -> str:
    """A hash of everything that decides a set's content."""
    blob = json.dumps({"n": n, "seed": seed, "config": asdict(config.resolved()), "version": GENERATOR_VERSION},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def generate(out_dir: str | Path, n: int, seed: int = 0, config: SynthEmoConfig | None = None,
             workers: int = 1) -> list[Sample]:
    """Generate ``n`` clips with their manifest and data card in ``out_dir``; resumes an interrupted run.

    Finished clips are journalled as they complete; a restarted run skips them, so nothing is
    rendered twice and no manifest row is duplicated. The manifest is written, sorted by id, once
    every clip exists. A directory holding a set of another seed or config is refused.
    """
    config = (config or SynthEmoConfig()).resolved()
    for program in ("espeak-ng", "ffmpeg"):
        voice.require(program)
    out = Path(out_dir)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    (out / ".tmp").mkdir(exist_ok=True)
    fp = fingerprint(n, seed, config)
    stamp = out / "synthemo.json"
    if stamp.exists() and json.loads(stamp.read_text())["fingerprint"] != fp:
        raise FileExistsError(f"{out} holds a SynthEmo set of another seed, size or config; choose another directory")
    if not stamp.exists():  # written once: processes reading one set at a time never see it half written
        write_lines([json.dumps({"fingerprint": fp, "n": n, "seed": seed, "config": asdict(config),
                                 "version": GENERATOR_VERSION}, indent=1, sort_keys=True)], stamp)
    manifest = out / "manifest.jsonl"
    if manifest.exists():
        return read_manifest(manifest, out)
    specs = plan(n, seed, config)
    journal = out / ".journal.jsonl"
    done = _read_journal(journal, out)
    todo = [s for s in specs if s.id not in done]
    if done:
        log.info("resuming: %d of %d clips already done", len(done), len(specs))
    jobs = [(s, str(out), config) for s in todo]
    with journal.open("a", encoding="utf-8") as fh, tqdm(total=len(specs), initial=len(done), desc="SynthEmo clips") as bar:
        if workers <= 1:
            results = map(_render_job, jobs)
            _drain(results, fh, bar, done)
        else:
            with get_context("fork").Pool(workers) as pool:
                _drain(pool.imap_unordered(_render_job, jobs, chunksize=4), fh, bar, done)
    samples = [done[s.id] for s in specs]
    write_manifest(samples, manifest)
    (out / "DATACARD.md").write_text(datacard(samples, config, seed))
    journal.unlink()
    return samples


def _drain(results, fh, bar, done: dict[str, Sample]) -> None:
    for line in results:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
        sample = Sample.from_dict(json.loads(line))
        done[sample.id] = sample
        bar.update()


def _read_journal(journal: Path, out: Path) -> dict[str, Sample]:
    """Finished clips from a journal; a torn last line or a clip file that went missing is redone."""
    done: dict[str, Sample] = {}
    if not journal.exists():
        return done
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            sample = Sample.from_dict(json.loads(line))
        except (ValueError, TypeError):
            continue
        if (out / sample.video).is_file():
            done[sample.id] = sample
    return done


def datacard(samples: list[Sample], config: SynthEmoConfig, seed: int) -> str:
    """The data card: what the set is, its gold rule, and counts per split, condition and class."""
    import pandas as pd

    frame = pd.DataFrame([{"split": s.split, "condition": s.meta["condition"], "label": s.label} for s in samples])
    by_cond = pd.crosstab([frame["split"], frame["condition"]], frame["label"]).to_markdown()
    return "\n".join([
        "# SynthEmo data card", "",
        f"{len(samples)} clips, seed {seed}, generator version {GENERATOR_VERSION}: {config.frames} frames at "
        f"{config.fps:g} fps ({config.duration:g} s), {config.size}x{config.size} pixels, "
        f"{config.sample_rate} Hz mono AAC audio, H.264 video, in `clips/`.", "",
        "Each clip is a rendered face (vision cue), speech synthesised with espeak-ng (audio cue, prosody) "
        "and the spoken sentence (text cue, wording), stored as the transcript.",
        f"Classes: {', '.join(design.CLASSES)}. Shortcut modality in training: {config.shortcut}.", "",
        "## Conditions and the gold rule", "", design.__doc__.split("\n\n", 1)[1], "",
        "## Counts (split, condition) x gold label", "", by_cond, "",
        "Per-modality cues, the condition and the dissenting modality are in each manifest row's `meta`, "
        "for analysis only; nothing a model or an extractor reads (ids, paths, media, transcript) contains them.", "",
    ])
