"""Voice-only clips for the tiny base's pre-training: SynthEmo's speakers with no face.

The audio tower and the language model learn to hear from these (:mod:`emoomni.train.encoders`,
:mod:`emoomni.train.pretrain`), as the face clips of :mod:`emoomni.data.synthemo.faces` teach them to see:
SynthEmo's speakers, prosodies, sentences, AAC encoding and clip length, each clip with a random speaker,
a sentence of a random emotion (so that the words never give the voice away) and one of the six vocal
emotions in turn, drawn from a random stream of their own, so that no SynthEmo clip is ever among them.
Files are written atomically and a rerun skips those that exist.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from emoomni.data.manifest import Sample
from emoomni.data.synthemo import text, voice
from emoomni.data.synthemo.design import CLASSES
from emoomni.data.synthemo.faces import FaceJob, cue, render_all
from emoomni.data.synthemo.generate import SynthEmoConfig


class VoiceJob(FaceJob):
    """One voice clip to render: its index, the set's seed and clip settings, where it goes (vocal emotion: ``cue``)."""

    @property
    def id(self) -> str:
        """The clip's id.

        >>> VoiceJob(7, 0, SynthEmoConfig(), "/tmp").id
        'voice-00007'
        """
        return f"voice-{self.index:05d}"


def sample(job: VoiceJob) -> Sample:
    """The Sample of a voice clip: sound only (no frames, no transcript given), its voice cue in ``meta['cues']``."""
    return Sample(id=job.id, dataset="synthemo-voices", split="pretrain", audio=f"{job.id}.m4a",
                  meta={"cues": {"audio": cue(job.index)}})


def render(job: VoiceJob) -> str:
    """Synthesise and encode one voice clip unless it exists; returns its id."""
    dest = Path(job.out_dir) / f"{job.id}.m4a"
    if dest.exists():
        return job.id
    rng = np.random.default_rng([job.seed, 0x5017CE, job.index])
    words = text.sentence(CLASSES[int(rng.integers(len(CLASSES)))], rng)
    speaker, offset = str(rng.choice(job.config.voices)), int(rng.integers(-5, 6))
    seconds = job.config.duration
    with tempfile.TemporaryDirectory(dir=job.out_dir) as tmp:
        wav, part = os.path.join(tmp, "speech.wav"), os.path.join(tmp, "voice.m4a")
        voice.synthesize_fitting(words, cue(job.index), speaker, offset, wav, seconds - 0.1)
        # SynthEmo's sound track (generate.mux): AAC, mono, padded or cut to the clip's length
        subprocess.run([voice.require("ffmpeg"), "-v", "error", "-y", "-i", wav, "-c:a", "aac", "-b:a", "48k",
                        "-ar", str(job.config.sample_rate), "-ac", "1", "-af", f"apad=whole_dur={seconds}",
                        "-t", str(seconds), "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
                        part], check=True, capture_output=True)
        os.replace(part, dest)
    return job.id


def voice_clips(out_dir: str | Path, n: int, seed: int, config: SynthEmoConfig = SynthEmoConfig(),
                workers: int = 1) -> list[Sample]:
    """``n`` voice-only clips in ``out_dir`` (rendered once, resumable) and their Samples, in index order."""
    jobs = [VoiceJob(i, seed, config, str(out_dir)) for i in range(n)]
    render_all(jobs, render, [Path(out_dir) / sample(j).audio for j in jobs], "voice clips", workers)
    return [sample(j) for j in jobs]
