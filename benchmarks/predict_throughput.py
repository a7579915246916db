"""Benchmark prediction on the tiny thinker: batched (batch 16) against one sample at a time, side by side.

Both runs predict the same SynthEmo clips with the same seed (greedy decoding, statistics included),
each into a fresh output file, after a short warm-up. Prints samples per (wall-clock) second, the speed-up,
the speed-up in samples per CPU second of this process (steadier on a shared machine), the process's
peak resident memory, and checks that the two runs wrote the same texts.

Usage: python benchmarks/predict_throughput.py [--clips 32] [--batch-size 16] [--max-new-tokens 64 256] [--repeats 2]
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
from pathlib import Path

import torch

from emoomni.data.synthemo import generate
from emoomni.evaluate import predict
from emoomni.model import build_tiny_omni, load_omni


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(model, processor, samples, root: Path, out: Path, batch_size: int, max_new_tokens: int, seed: int):
    """Run predict into a fresh file; return (samples per wall second, samples per CPU second, predictions)."""
    wall, cpu = time.perf_counter(), time.process_time()
    preds = predict(model, processor, samples, root, "synthemo", out, batch_size=batch_size,
                    max_new_tokens=max_new_tokens, seed=seed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(samples) / wall, len(samples) / cpu, preds


def main() -> None:
    """Print samples/s at the chosen batch size and one at a time, the ratio (target >= 8x) and peak RSS."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best rate of each is kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, processor = load_omni(build_tiny_omni(tmp / "tiny", seed=args.seed))
        root = tmp / "synthemo"
        samples = generate(root, args.clips, seed=args.seed)
        print(f"tiny thinker, {args.clips} SynthEmo clips, greedy, statistics included, torch threads="
              f"{torch.get_num_threads()}, best of {args.repeats} interleaved runs; "
              f"RSS after loading: {peak_rss_mib():.0f} MiB")
        timed(model, processor, samples[:2], root, tmp / "warm.jsonl", 2, 8, args.seed)  # warm-up
        print(f"{'max_new_tokens':>14}{f'batch {args.batch_size} /s':>14}{'one-by-one /s':>15}{'speed-up':>10}"
              f"{'(per CPU s)':>12}{'tokens':>8}{'same text':>11}")
        run = 0
        for n in args.max_new_tokens:
            best = {args.batch_size: 0.0, 1: 0.0}
            best_cpu = dict(best)
            preds = {}
            for _ in range(args.repeats):
                for bs in (args.batch_size, 1):
                    run += 1
                    rate, cpu_rate, preds[bs] = timed(model, processor, samples, root, tmp / f"run{run}.jsonl", bs,
                                                      n, args.seed)
                    best[bs], best_cpu[bs] = max(best[bs], rate), max(best_cpu[bs], cpu_rate)
            same = sum(a.text == b.text for a, b in zip(preds[args.batch_size], preds[1]))
            tokens = sum(p.n_tokens for p in preds[1]) / len(samples)
            print(f"{n:>14}{best[args.batch_size]:>14.2f}{best[1]:>15.2f}{best[args.batch_size] / best[1]:>9.2f}x"
                  f"{best_cpu[args.batch_size] / best_cpu[1]:>11.2f}x{tokens:>8.1f}{f'{same}/{len(samples)}':>11}")
        print(f"peak RSS: {peak_rss_mib():.0f} MiB (target speed-up >= 8x)")


if __name__ == "__main__":
    main()
