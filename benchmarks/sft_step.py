"""Benchmark cold-start SFT on the tiny model: seconds per optimizer step and peak memory.

Usage: python benchmarks/sft_step.py [--steps 10] [--batch 4] [--threads 2]
Builds the tiny thinker and a few SynthEmo clips in a temporary directory, trains LoRA SFT on
OmniCoT traces composed from the clips' cues for ``--steps`` steps (after one warm-up step) and
prints seconds per step, clips per second and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from emoomni.build import OmniCoTRecord
from emoomni.data.synthemo import generate
from emoomni.labels import LABEL_SETS
from emoomni.model import build_tiny_omni
from emoomni.omnicot import OmniCoT
from emoomni.train.sft import SFTSettings, train_sft


def records_for(samples) -> list[OmniCoTRecord]:
    """OmniCoT records composed from each clip's cues (a stand-in for a built OmniCoT set)."""
    out = []
    for s in samples:
        c = s.meta["cues"]
        trace = OmniCoT(f"The face looks {c['vision']}.", f"The voice sounds {c['audio']}.", s.transcript,
                        f"Two of three cues point to {s.label}.", s.label)
        out.append(OmniCoTRecord(s.id, trace, True, "benchmark"))
    return out


def main() -> None:
    """Print seconds per SFT step, clips per second and peak RSS."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_omni(tmp / "tiny")
        samples = generate(tmp / "clips", max(8, args.batch * 2), seed=0, workers=2)
        records = records_for(samples)
        labels = LABEL_SETS["synthemo"].labels
        base = SFTSettings(learning_rate=1e-3, per_device_batch_size=args.batch, save_steps=10**6, eval_steps=10**6,
                           logging_steps=1, rank=8)
        train_sft(model, records, samples, tmp / "clips", labels, tmp / "warm", replace(base, max_steps=1))
        start = time.perf_counter()
        train_sft(model, records, samples, tmp / "clips", labels, tmp / "run", replace(base, max_steps=args.steps))
        seconds = time.perf_counter() - start
    per_step = seconds / args.steps
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"LoRA SFT, tiny thinker, batch {args.batch}, {args.threads} threads: {per_step:.3f} s/step "
          f"({args.batch / per_step:.1f} clips/s, model loading and saving included over {args.steps} steps)")
    print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
