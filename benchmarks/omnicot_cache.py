"""Benchmark the OmniCoT build with the offline backends: clips per second cold and fully cached.

Usage: python benchmarks/omnicot_cache.py [--clips 200] [--workers 2]
Generates a SynthEmo set in a temporary directory, builds OmniCoT twice into the same output
directory (the second run finds everything in its cache) and prints both rates and their ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from emoomni.build import build
from emoomni.data.synthemo import generate
from emoomni.extract.base import make_extractor
from emoomni.extract.verify import make_verifier
from emoomni.labels import LABEL_SETS


def run(samples, root: Path, out: Path, workers: int) -> float:
    """Seconds for one build with fresh backend objects."""
    extractors = {"vision": make_extractor("vision", "signal"), "audio": make_extractor("audio", "signal"),
                  "dialogue": make_extractor("dialogue", "transcript")}
    start = time.perf_counter()
    build(samples, root, out, extractors, make_verifier("rules"), LABEL_SETS["synthemo"].labels, workers=workers)
    return time.perf_counter() - start


def main() -> None:
    """Print cold and cached clips per second and the cached-over-cold speed ratio."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthemo"
        samples = generate(root, args.clips, seed=0, workers=args.workers)
        cold = run(samples, root, Path(tmp) / "omnicot", args.workers)
        cached = run(samples, root, Path(tmp) / "omnicot", args.workers)
    print(f"cold:   {args.clips / cold:9.1f} clips/s ({cold:.2f} s for {args.clips} clips, {args.workers} workers)")
    print(f"cached: {args.clips / cached:9.1f} clips/s ({cached:.3f} s)")
    print(f"cached / cold speed: {cold / cached:.0f}x")


if __name__ == "__main__":
    main()
