"""Benchmark prediction's statistics read off generation's logits against the teacher-forced pass, side by side.

Usage: python benchmarks/stats_from_logits.py --model DIR [--data DIR] [--clips 32] [--batch-size 16]
                                              [--max-new-tokens 192] [--repeats 3] [--threads 1]

Generates greedily for ``--clips`` test clips of a SynthEmo set (``--data``, default: the default profile's),
``--batch-size`` at a time, keeping generation's logits, then times per batch, alternating ``--repeats`` times,
:func:`emoomni.model.guided_stats.completion_stats` with those logits (what :func:`emoomni.evaluate.predict`
does) and without (one teacher-forced forward pass over prompt and completion). Prints the median
seconds of each way, their ratio, the generation time they sit beside, and the largest difference in
H_m, p_m and log p* between the two ways (they must agree to 1e-5). Pass a trained model
(``runs/default/sft-omnicot-.../merged``): a random thinker emits no guided token and no answer slot, so
nothing is read off its logits.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from emoomni import config, stages
from emoomni.data.manifest import read_manifest
from emoomni.evaluate.predict import generation_config
from emoomni.labels import label_set
from emoomni.model import chat_messages, guided_token_ids, load_omni, omni_inputs
from emoomni.model.guided_stats import completion_stats, last_position_head


def largest_difference(fast: tuple, slow: tuple) -> float:
    """The largest absolute difference in H_m, p_m and log p* between two ``completion_stats`` results."""
    worst = 0.0
    for a, b in zip(fast[0], slow[0]):
        for m in a:
            if (a[m] is None) != (b[m] is None):
                return float("inf")
            if a[m] is not None:
                worst = max(worst, *(abs(a[m][k] - b[m][k]) for k in ("entropy", "prob")))
    for a, b in zip(fast[1], slow[1]):
        if (a is None) != (b is None):
            return float("inf")
        if a is not None:
            worst = max(worst, abs(a["logp"] - b["logp"]))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a trained thinker directory (an SFT model's merged/)")
    ap.add_argument("--data", help="a SynthEmo set's directory (default: the default profile's)")
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=192)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.data) if args.data else stages.synthemo_dir(config.load("default"))
    samples = [s for s in read_manifest(root / "manifest.jsonl", root) if s.split == "test"][:args.clips]
    model, processor = load_omni(args.model)
    labels = label_set("synthemo").labels
    ids = {k.strip("[]"): v for k, v in guided_token_ids(processor).items()}
    gc = generation_config(model, processor, args.max_new_tokens, False, 1.0, 1.0, 0)
    gc.update(output_logits=True, return_dict_in_generate=True)
    fast_s, slow_s, gen_s, worst = [], [], 0.0, 0.0
    for start in range(0, len(samples), args.batch_size):
        batch = samples[start:start + args.batch_size]
        inputs = omni_inputs(processor, [chat_messages(s, labels, root) for s in batch], add_generation_prompt=True)
        t = time.perf_counter()
        with torch.no_grad(), last_position_head(model):
            out = model.generate(**inputs, generation_config=gc)
        gen_s += time.perf_counter() - t
        comps = out.sequences[:, inputs["input_ids"].shape[1]:]
        golds = [s.label for s in batch]
        for _ in range(args.repeats):
            got = {}
            for name, logits, times in (("fast", out.logits, fast_s), ("slow", None, slow_s)):
                t = time.perf_counter()
                got[name] = completion_stats(model, inputs, comps, ids, golds, processor.tokenizer, logits=logits)
                times.append(time.perf_counter() - t)
            worst = max(worst, largest_difference(got["fast"], got["slow"]))
    batches = -(-len(samples) // args.batch_size)
    fast_b, slow_b = statistics.median(fast_s), statistics.median(slow_s)
    print(f"{args.model}: {len(samples)} test clips, batch {args.batch_size}, up to {args.max_new_tokens} tokens, "
          f"{args.threads} thread(s), median of {args.repeats} interleaved runs per batch")
    print(f"  generation                 {gen_s / batches:.3f} s a batch")
    print(f"  statistics, teacher-forced {slow_b:.3f} s a batch")
    print(f"  statistics, off the logits {fast_b:.3f} s a batch")
    print(f"prediction batch (generation + statistics): {(gen_s / batches + slow_b) / (gen_s / batches + fast_b):.2f}x "
          f"faster; statistics alone {slow_b / max(fast_b, 1e-9):.1f}x; largest difference {worst:.1e} (must be <= 1e-5)")


if __name__ == "__main__":
    main()
