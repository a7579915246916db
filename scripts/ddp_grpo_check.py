"""Data-parallel DyME-GRPO check: run under ``accelerate launch --multi_gpu --num_processes 2`` (CPU, gloo).

Trains the GRPO adapter for two steps and writes, per rank, ``rank<R>.json`` with the real world size,
the prompts the rank generated for and a checksum of every trainable weight before training and after
each step, so that a caller can check that both ranks ended every step with identical weights.

    accelerate launch --multi_gpu --num_processes 2 scripts/ddp_grpo_check.py \\
        --model TINY --manifest M --data-root ROOT --out OUT
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path


def main() -> None:
    import torch
    import torch.distributed as dist
    from transformers import TrainerCallback

    from emoomni.data.manifest import read_manifest
    from emoomni.train.grpo import GRPOSettings, grpo_rows, make_grpo_trainer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=2)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    samples = read_manifest(a.manifest, a.data_root)
    settings = GRPOSettings(alpha=0.1, num_generations=2, per_device_batch_size=2, max_completion_length=8,
                            learning_rate=1e-3, max_steps=a.steps, save_steps=10_000, report_to=())
    out = Path(a.out)
    trainer = make_grpo_trainer(a.model, grpo_rows(samples, a.data_root, "synthemo", settings), out / "run", settings)

    def checksum() -> str:
        h = hashlib.sha256()
        for name, param in sorted(trainer.model.named_parameters()):
            if param.requires_grad:
                h.update(name.encode() + param.detach().float().contiguous().numpy().tobytes())
        return h.hexdigest()

    steps: list[str] = []

    class Record(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            steps.append(checksum())

    prompts: list[str] = []
    tokenize = trainer._tokenize_prompts

    def recording(batch):
        prompts.extend(json.loads(x)[-1]["content"][0]["video"] for x in dict.fromkeys(batch))
        return tokenize(batch)

    trainer._tokenize_prompts = recording

    def varied(completions, **kwargs):  # a random tiny policy never earns R_fmt * R_acc; a spread by position
        return [float(i) for i in range(len(completions))]  # (each rank holds whole groups) never ties

    trainer.reward_funcs[0] = varied
    trainer.add_callback(Record())
    initial = checksum()
    trainer.train()
    rank = dist.get_rank() if dist.is_initialized() else 0
    report = {"rank": rank, "world_size": dist.get_world_size() if dist.is_initialized() else 1,
              "backend": dist.get_backend() if dist.is_initialized() else None, "prompts": prompts,
              "initial": initial, "steps": steps}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{rank}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
