"""Run bookkeeping shared by every trainer: what a run trained on, whether it finished, resuming, saving.

A run directory holds ``run.json`` (the base model, a hash of the training rows and the settings that
decide the result), ``checkpoint-N`` folders, ``log_history.csv``, ``train_state.json`` and the result
(``adapter/`` or ``model/``) with its metadata file. :func:`finished` returns a result only when its
metadata records the same base model, settings and data; :func:`check_out_dir` refuses to resume
checkpoints of another run; :func:`run_training` resumes from the newest complete checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from transformers import TrainerCallback

from emoomni import progress
from emoomni.records import write_lines
from emoomni.settings import key_dict

log = logging.getLogger(__name__)

ADAPTER_META = "emoomni_adapter.json"
"""The metadata file saved beside every LoRA adapter (SFT and GRPO): base model, settings, counts."""

RESUMABLE = ("max_steps", "epochs", "save_steps", "eval_steps", "logging_steps", "save_total_limit",
             "dataloader_num_workers")
"""Settings that may change between calls on one run directory without invalidating its checkpoints."""


def source_id(path: str | os.PathLike) -> str:
    """A model's identity in run metadata: an existing local path made absolute; a hub id unchanged.

    >>> source_id("Qwen/Qwen2.5-Omni-7B")
    'Qwen/Qwen2.5-Omni-7B'
    """
    p = Path(os.fspath(path)).expanduser()
    return str(p.resolve()) if p.exists() else os.fspath(path)


def data_key(rows: Sequence[dict]) -> str:
    """A hash of exactly what is trained on (chats, answers, media paths)."""
    h = hashlib.sha256()
    for r in rows:
        h.update(r["messages"].encode())
    return h.hexdigest()[:16]


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoint-N`` (its ``trainer_state.json`` written last) in ``out_dir``, or None."""
    out = Path(out_dir)
    if not out.is_dir():
        return None
    done = [p for p in out.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
            and (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[-1])) if done else None


def finished(out_dir: str | Path, settings: Any, data: str, base_model: str | os.PathLike, subdir: str,
             meta_name: str) -> Path | None:
    """The finished result under ``out_dir/subdir`` when its metadata has this base model, settings and data."""
    path = Path(out_dir) / subdir / meta_name
    if not path.exists():
        return None
    meta = json.loads(path.read_text())
    same = (meta.get("settings") == json.loads(json.dumps(key_dict(settings)))
            and meta.get("data_key") == data and meta.get("base_model") == source_id(base_model))
    if not same and meta.get("data_key") == data and meta.get("base_model") != source_id(base_model):
        log.info("%s was trained from %s, not %s: training again", path.parent, meta.get("base_model"),
                 source_id(base_model))
    return path.parent if same else None


def _comparable(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in RESUMABLE}


def check_out_dir(out: Path, meta: dict, write: bool = True) -> None:
    """Refuse an out_dir whose checkpoints come from other settings or data; record ours (when ``write``)."""
    path = out / "run.json"
    mine = json.loads(json.dumps({"base_model": meta["base_model"], "data_key": meta["data_key"],
                                  "settings": _comparable(meta["settings"])}))  # tuples compare as stored lists
    if path.exists():
        theirs = json.loads(path.read_text())
        theirs = {**theirs, "settings": _comparable(theirs.get("settings", {}))}
        if theirs != mine and latest_checkpoint(out) is not None:
            diff = sorted(k for k in set(theirs["settings"]) | set(mine["settings"])
                          if theirs["settings"].get(k) != mine["settings"].get(k))
            other = [k for k in ("base_model", "data_key") if theirs.get(k) != mine.get(k)]
            raise ValueError(f"{out} holds checkpoints of another run (differs in {other + diff}); "
                             "choose another out_dir or delete it")
    if write:
        out.mkdir(parents=True, exist_ok=True)
        write_lines([json.dumps(mine, indent=1, sort_keys=True)], path)  # atomic: another rank never reads half a file


def run_training(trainer: Any, out: Path) -> dict:
    """Train, resuming from the newest complete checkpoint; write the log CSV; returns what happened."""
    last = latest_checkpoint(out)
    start = json.loads((last / "trainer_state.json").read_text())["global_step"] if last else 0
    if last:
        log.info("resuming from %s (step %d)", last, start)
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    state = {"resumed_from": last.name if last else None, "start_step": start,
             "global_step": trainer.state.global_step, "metrics": result.metrics}
    if trainer.is_world_process_zero():
        pd.DataFrame(trainer.state.log_history).to_csv(out / "log_history.csv", index=False)
        (out / "train_state.json").write_text(json.dumps(state, indent=1, default=str))
    return state


def save_adapter(trainer: Any, adapter_dir: str | Path, state: dict | None = None) -> Path:
    """Save the adapter (safetensors), the processor and :data:`ADAPTER_META` (base, settings, counts)."""
    adapter = Path(adapter_dir)
    trainer.save_model(str(adapter))
    if trainer.is_world_process_zero():
        (adapter / "training_args.bin").unlink(missing_ok=True)  # a pickle; the settings are in the metadata
        trainer.processing_class.save_pretrained(str(adapter))
        meta = {**trainer.emoomni_meta, "global_step": trainer.state.global_step, **(state or {})}
        (adapter / ADAPTER_META).write_text(json.dumps(meta, indent=1, default=str))
    trainer.accelerator.wait_for_everyone()
    return adapter


class ProgressReport(TrainerCallback):
    """Reports the optimizer steps of a training run to the book runner's terminal (:mod:`emoomni.progress`)."""

    def __init__(self, what: str) -> None:
        self.what, self.start = what, time.monotonic()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        progress.report(self.what, state.global_step, state.max_steps, time.monotonic() - self.start,
                        force=state.global_step == state.max_steps)
