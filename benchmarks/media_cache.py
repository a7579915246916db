"""Benchmark the decoded-media cache: LoRA SFT steps with it against without it, side by side.

Usage: python benchmarks/media_cache.py [--steps 12] [--batch 8] [--repeats 3] [--threads 2]

Runs ``benchmarks/sft_step.py`` (the tiny thinker, twice ``--batch`` SynthEmo clips, at least 8, so that every
clip comes back once an epoch) in fresh processes, alternately with ``EMOOMNI_MEDIA_CACHE_MB=0`` (every batch decodes its
clips) and with the default cache (:data:`emoomni.media.DECODED`: each clip decoded once per process),
and prints each run's seconds per step, the medians and their ratio. The trained weights are the same
either way: the cache hands out copies of the arrays the decoder made (``tests/test_media.py``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

SFT_STEP = Path(__file__).with_name("sft_step.py")


def seconds_per_step(cache_mb: str, steps: int, batch: int, threads: int) -> float:
    """One ``sft_step.py`` run in a fresh process with the cache set to ``cache_mb``; its seconds per step."""
    env = {**os.environ, "EMOOMNI_MEDIA_CACHE_MB": cache_mb, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, str(SFT_STEP), "--steps", str(steps), "--batch", str(batch),
                          "--threads", str(threads)], env=env, check=True, capture_output=True, text=True).stdout
    return float(re.search(r"([0-9.]+) s/step", out).group(1))


def main() -> None:
    """Print SFT seconds per step with and without the decoded-media cache, interleaved, and their ratio."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"off": [], "on": []}
    for r in range(args.repeats):
        for arm, mb in (("off", "0"), ("on", "1024")):
            runs[arm].append(seconds_per_step(mb, args.steps, args.batch, args.threads))
            print(f"repeat {r + 1}, cache {arm}: {runs[arm][-1]:.3f} s/step", flush=True)
    off, on = statistics.median(runs["off"]), statistics.median(runs["on"])
    print(f"LoRA SFT, tiny thinker, batch {args.batch}, {args.steps} steps over {max(8, 2 * args.batch)} clips, {args.threads} thread(s), "
          f"median of {args.repeats} interleaved runs: {off:.3f} s/step without the cache, {on:.3f} with it; "
          f"time ratio with/without {on / off:.3f}")


if __name__ == "__main__":
    main()
