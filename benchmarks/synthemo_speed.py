"""Benchmark SynthEmo generation: clips per second with 1 and with 2 worker processes, side by side.

Usage: python benchmarks/synthemo_speed.py [--clips 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from emoomni.data.synthemo import generate


def clips_per_second(n: int, workers: int, seed: int) -> float:
    """Generate ``n`` clips into a fresh directory and return the rate."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        generate(out, n, seed=seed, workers=workers)
        return n / (time.perf_counter() - start)


def main() -> None:
    """Print clips per second for 1 and 2 workers and the projected time for 1,000 clips."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rates = {w: clips_per_second(args.clips, w, args.seed) for w in (1, 2)}
    for w, r in rates.items():
        print(f"workers={w}: {r:6.2f} clips/s  ({args.clips} clips; 1,000 clips in {1000 / r:5.0f} s)")
    print(f"speed-up 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
