"""Benchmark DyME-GRPO against vanilla GRPO on the tiny model: seconds per step and peak memory, side by side.

Usage: python benchmarks/grpo_step.py [--steps 8] [--repeats 2] [--threads 1] [--model DIR]

Both arms run the same code, data, batch and seeds, with a learning rate of 0 so that both policies
stay equal and sample the same completions (every step still runs the backward pass and the
optimizer): DyME-GRPO (alpha 0.1, the statistics pass for
H_m, p_m and p* on every generation batch) and vanilla GRPO (alpha 0, ``track_modality`` off, so the
pass is skipped). Each arm runs in its own process (peak resident memory is per process), the arms
alternate ``--repeats`` times, and the script prints the median seconds per step (steps after the
first), the peak RSS of each arm and the two ratios. ``--model`` defaults to a freshly built tiny
thinker, whose completions are never valid traces, so the statistics pass (which scores valid traces
only) never runs: that measures the bookkeeping alone. Pass the SFT model and the default profile's
sampling (``--model runs/default/sft-omnicot-.../merged --completion-length 192 --top-k 3``) for the
realistic cost, with about half the completions valid.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_arm(arm: str, model: str, data: Path, steps: int, threads: int, out: Path, length: int, top_k: int) -> dict:
    """Train ``steps`` GRPO steps in this process; returns the per-step seconds and peak RSS."""
    import torch
    from transformers import TrainerCallback

    from emoomni.data.manifest import read_manifest
    from emoomni.train.grpo import GRPOSettings, grpo_rows, make_grpo_trainer

    torch.set_num_threads(threads)
    samples = [s for s in read_manifest(data / "manifest.jsonl", data) if s.label]  # pre-training clips have none
    settings = GRPOSettings(alpha=0.1 if arm == "dyme" else 0.0, track_modality=arm == "dyme", num_generations=4,
                            per_device_batch_size=8, max_completion_length=length, top_k=top_k, learning_rate=0.0,
                            max_steps=steps, save_steps=10**6, report_to=(), seed=0)
    trainer = make_grpo_trainer(model, grpo_rows(samples, data, "synthemo", settings), out, settings)
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.start)

    trainer.add_callback(Clock())
    trainer.train()
    valid = [v for v in (h.get("dyme/format_rate") for h in trainer.state.log_history) if v is not None]
    stats = [v for v in (h.get("dyme/stats_seconds") for h in trainer.state.log_history) if v is not None]
    lengths = [v for v in (h.get("completions/mean_length") for h in trainer.state.log_history) if v is not None]
    return {"arm": arm, "step_seconds": statistics.median(times[1:]), "steps": len(times),
            "valid_rate": statistics.mean(valid) if valid else float("nan"),
            "stats_seconds": statistics.mean(stats) if stats else 0.0,
            "completion_tokens": statistics.mean(lengths) if lengths else float("nan"),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    """Run both arms alternately in subprocesses and print the DyME / vanilla ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", help="thinker directory (default: a freshly built tiny one)")
    parser.add_argument("--completion-length", type=int, default=64, help="max completion tokens (default: 64)")
    parser.add_argument("--top-k", type=int, default=0, help="top-k sampling (default: 0, off)")
    parser.add_argument("--arm", choices=("dyme", "vanilla"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.model, Path(args.data), args.steps, args.threads, Path(args.out),
                                 args.completion_length, args.top_k)))
        return
    from emoomni.data.synthemo import generate
    from emoomni.model import build_tiny_omni

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or str(build_tiny_omni(tmp / "tiny"))
        generate(tmp / "clips", 16, seed=0, workers=2)
        results: dict[str, list[dict]] = {"dyme": [], "vanilla": []}
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        for r in range(args.repeats):
            for arm in (("vanilla", "dyme") if r % 2 == 0 else ("dyme", "vanilla")):
                cmd = [sys.executable, __file__, "--arm", arm, "--model", model, "--data", str(tmp / "clips"),
                       "--out", str(tmp / f"{arm}{r}"), "--steps", str(args.steps), "--threads", str(args.threads),
                       "--completion-length", str(args.completion_length), "--top-k", str(args.top_k)]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if proc.returncode:
                    sys.exit(f"the {arm} arm failed:\n{proc.stderr[-3000:]}")
                results[arm].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    sec = {a: statistics.median(x["step_seconds"] for x in v) for a, v in results.items()}
    mem = {a: statistics.median(x["peak_rss_mb"] for x in v) for a, v in results.items()}
    valid = statistics.mean(x["valid_rate"] for x in results["dyme"])
    print(f"{model if args.model else 'tiny random thinker'}: 2 prompts x 4 generations, up to {args.completion_length} "
          f"completion tokens, top-k {args.top_k}, {args.threads} thread(s), {args.steps} steps x {args.repeats} runs "
          f"per arm; {100 * valid:.0f} % of DyME's completions were valid traces (the statistics pass scores those)")
    for arm in ("vanilla", "dyme"):
        tokens = statistics.mean(x["completion_tokens"] for x in results[arm])
        print(f"  {arm:8s} {sec[arm]:.3f} s/step   peak RSS {mem[arm]:.0f} MB   {tokens:.1f} tokens per completion")
    stats = statistics.mean(x["stats_seconds"] for x in results["dyme"])
    print(f"the statistics pass took {stats:.3f} s of DyME's {sec['dyme']:.3f} s per step ({100 * stats / sec['dyme']:.1f} %)")
    print(f"time ratio   DyME / vanilla = {sec['dyme'] / sec['vanilla']:.3f} (target <= 1.05)")
    print(f"memory ratio DyME / vanilla = {mem['dyme'] / mem['vanilla']:.3f} (target <= 1.02)")


if __name__ == "__main__":
    main()
