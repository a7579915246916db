"""Data-parallel SFT check: run under ``torchrun --nproc_per_node 2`` (CPU, gloo) or ``accelerate launch``.

Trains the LoRA SFT adapter for a few steps on a SynthEmo set and writes, per rank, ``rank<R>.json``
with the real world size, the sample ids the rank's collator saw and a checksum of every trainable
weight, so that a caller can check that both ranks trained on different data and ended identical.

    torchrun --nproc_per_node 2 scripts/ddp_sft_check.py --model TINY --data-root SYNTHEMO --out OUT
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

    from emoomni.build import OmniCoTRecord
    from emoomni.data.manifest import read_manifest
    from emoomni.labels import label_set
    from emoomni.omnicot import OmniCoT
    from emoomni.train.sft import SFTSettings, make_sft_trainer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=2)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    root = Path(a.data_root)
    samples = read_manifest(root / "manifest.jsonl", root)
    records = [OmniCoTRecord(s.id, OmniCoT(f"The face looks {s.meta['cues']['vision']}.",
                                           f"The voice sounds {s.meta['cues']['audio']}.", s.transcript or "-",
                                           "The cues are weighed.", s.label), True, "check") for s in samples]
    settings = SFTSettings(learning_rate=1e-3, per_device_batch_size=1, max_steps=a.steps, save_steps=10_000,
                           logging_steps=1, seed=0)
    out = Path(a.out)
    trainer = make_sft_trainer(a.model, records[:8], samples, root, label_set("synthemo").labels, out / "run",
                               settings)
    def checksums() -> dict[str, str]:
        return {name: hashlib.sha256(p.detach().float().contiguous().numpy().tobytes()).hexdigest()
                for name, p in trainer.model.named_parameters() if p.requires_grad}

    initial = checksums()
    seen: list[str] = []
    collate = trainer.data_collator

    def recording(rows):
        seen.extend(r["id"] for r in rows)
        return collate(rows)

    trainer.data_collator = recording
    trainer.train()
    state = checksums()
    rank = dist.get_rank() if dist.is_initialized() else 0
    report = {"rank": rank, "world_size": dist.get_world_size() if dist.is_initialized() else 1,
              "backend": dist.get_backend() if dist.is_initialized() else None,
              "args_world_size": trainer.args.world_size, "seen": seen, "global_step": trainer.state.global_step,
              "initial": initial, "trainable": state}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{rank}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
