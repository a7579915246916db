"""Face-only clips for the tiny base's pre-training: SynthEmo's faces with no voice and no words.

The tiny base learns to see from these (:mod:`emoomni.train.encoders`, :mod:`emoomni.train.pretrain`):
the same renderer, frame count, frame rate and H.264 encoding as SynthEmo's clips, each with a random
person and one of the six expressions in turn, drawn from a random stream of their own, so that no
SynthEmo clip is ever among them. Files are written atomically and a rerun skips those that exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from emoomni.data.manifest import Sample
from emoomni.data.synthemo import face
from emoomni.data.synthemo.design import CLASSES
from emoomni.data.synthemo.generate import SynthEmoConfig, mux
from emoomni.progress import tqdm


@dataclass(frozen=True)
class FaceJob:
    """One face clip to render: its index, the set's seed and clip settings, where it goes."""

    index: int
    seed: int
    config: SynthEmoConfig
    out_dir: str

    @property
    def id(self) -> str:
        """The clip's id.

        >>> FaceJob(7, 0, SynthEmoConfig(), "/tmp").id
        'face-00007'
        """
        return f"face-{self.index:05d}"


def cue(index: int) -> str:
    """The expression of face clip ``index`` (and the vocal emotion of voice clip ``index``): the six classes in turn.

    >>> [cue(i) for i in (0, 1, 6)]
    ['neutral', 'happy', 'neutral']
    """
    return CLASSES[index % len(CLASSES)]


def sample(job: FaceJob) -> Sample:
    """The Sample of a face clip: video only (no sound, no words), its face cue in ``meta['cues']``."""
    return Sample(id=job.id, dataset="synthemo-faces", split="pretrain", video=f"{job.id}.mp4",
                  meta={"audio_in_video": False, "cues": {"vision": cue(job.index)}})


def render(job: FaceJob) -> str:
    """Render and encode one face clip unless it exists; returns its id."""
    dest = Path(job.out_dir) / f"{job.id}.mp4"
    if not dest.exists():
        rng = np.random.default_rng([job.seed, 0xFACE, job.index])
        frames = face.render_clip(cue(job.index), face.Identity.sample(rng), job.config.frames, job.config.size, rng)
        part = dest.with_name(f".{job.id}.part.mp4")
        mux(frames, None, str(part), job.config)
        os.replace(part, dest)
    return job.id


def face_clips(out_dir: str | Path, n: int, seed: int, config: SynthEmoConfig = SynthEmoConfig(),
               workers: int = 1) -> list[Sample]:
    """``n`` face-only clips in ``out_dir`` (rendered once, resumable) and their Samples, in index order."""
    jobs = [FaceJob(i, seed, config, str(out_dir)) for i in range(n)]
    render_all(jobs, render, [Path(out_dir) / sample(j).video for j in jobs], "face clips", workers)
    return [sample(j) for j in jobs]


def render_all(jobs: Sequence[Any], render_one: Callable[[Any], str], files: Sequence[Path], desc: str,
               workers: int) -> None:
    """Run ``render_one`` on each job whose file is missing, on ``workers`` processes, with a progress bar."""
    todo = [j for j, f in zip(jobs, files) if not f.exists()]
    if files:
        files[0].parent.mkdir(parents=True, exist_ok=True)
    if not todo:  # nothing to render: no progress bar in the chapters that only ask for the base again
        return
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc) as bar:
        if workers <= 1 or len(todo) < 2:
            for j in todo:
                render_one(j)
                bar.update()
        else:
            with get_context("fork").Pool(workers) as pool:
                for _ in pool.imap_unordered(render_one, todo, chunksize=8):
                    bar.update()
