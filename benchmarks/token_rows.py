"""Benchmark generation through the LoRA adapter with the trainable token rows merged once against unmerged.

Usage: python benchmarks/token_rows.py [--tokens 32] [--batch 2] [--seconds 3] [--repeats 3] [--depth 1]

The model is bfloat16 where the CPU computes it natively, float32 elsewhere (:func:`emoomni.rehearsal.native_dtype`).

Builds the Qwen2.5-Omni-7B thinker at ``--depth`` (every width and the 152,064-word vocabulary, as
``emoomni rehearse paper`` does), wraps it in the adapter GRPO trains (LoRA plus the guided tokens'
embedding and lm_head rows), and generates greedily from a ``--seconds`` clip, ``--batch`` copies,
alternating the two arms ``--repeats`` times: unmerged (peft copies both full weights on every forward
call) and inside :func:`emoomni.train.lora.merged_token_rows` (what GRPO's rollouts and scoring use).
Prints the median seconds of each arm, their ratio, and whether the tokens are identical.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import torch

from emoomni.data.manifest import Sample
from emoomni.labels import label_set
from emoomni.model import chat_messages, omni_inputs
from emoomni.model.paper_thinker import build_paper_thinker
from emoomni.rehearsal import TRANSCRIPT, make_clip, native_dtype
from emoomni.train.lora import lora_model, merged_token_rows
from emoomni.train.settings import LoRASettings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--depth", default="1")
    args = ap.parse_args()
    model, processor = build_paper_thinker(args.depth, dtype=native_dtype("cpu"))  # emulated bfloat16 is 140x slower
    model = lora_model(model, processor, LoRASettings())
    model.eval()
    labels = label_set("mer2023").labels
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_clip(root / "clip.mp4", args.seconds)
        sample = Sample("clip", "bench", "train", video="clip.mp4", audio=None, transcript=TRANSCRIPT, label=labels[0])
        inputs = omni_inputs(processor, [chat_messages(sample, labels, root)] * args.batch,
                             add_generation_prompt=True, fps=2.0, size=None)
    inputs = {k: v.to(model.dtype) if torch.is_tensor(v) and v.is_floating_point() else v
              for k, v in inputs.items()}
    times: dict[str, list[float]] = {"unmerged": [], "merged": []}
    outputs = {}
    for _ in range(args.repeats):
        for arm in times:
            start = time.perf_counter()
            with torch.no_grad(), (merged_token_rows(model) if arm == "merged" else contextlib.nullcontext()):
                outputs[arm] = model.generate(**inputs, max_new_tokens=args.tokens, min_new_tokens=args.tokens,
                                              do_sample=False)
            times[arm].append(time.perf_counter() - start)
    med = {arm: statistics.median(t) for arm, t in times.items()}
    n = int(inputs["input_ids"].shape[1])
    print(f"depth {args.depth}, {n} prompt tokens x {args.batch}, {args.tokens} new tokens, {args.repeats} repeats")
    for arm, t in med.items():
        print(f"  {arm:<9} {t:7.2f} s  ({' '.join(f'{x:.2f}' for x in times[arm])})")
    print(f"  unmerged / merged: {med['unmerged'] / med['merged']:.2f}x; "
          f"identical tokens: {torch.equal(outputs['unmerged'], outputs['merged'])}")


if __name__ == "__main__":
    main()
