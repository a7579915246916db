"""Cold-start SFT: LoRA on the thinker's language model, guided-token rows trained, TRL ``SFTTrainer``.

What trains. A peft LoRA adapter (rank 8, lora_alpha 32 in the paper) on the linear layers of the language
model only (:data:`emoomni.train.settings.LANGUAGE_MODEL_LINEARS`: ``model.language_model.layers.N.self_attn.{q,k,v,o}_proj``
and ``mlp.{gate,up,down}_proj``; the audio encoder's ``q_proj`` and the vision blocks stay frozen), plus
the input and output rows of the four guided tokens through peft ``trainable_token_indices`` on
``embed_tokens`` and ``lm_head`` (the thinker's embeddings are untied, so both are listed), and with
``train_answer_tokens`` those of the answer spans' tokens (the default profile's tiny base). Every other
weight is frozen; a test checks that nothing else moves.

What it learns from. Each OmniCoT record is rendered in ``settings.target_style`` (one of
:data:`emoomni.omnicot.STYLES`, the paper's Table 2 comparison) and becomes the assistant turn of the
sample's chat (:func:`emoomni.model.chat_messages`); the loss is on that turn only (its tokens and
``<|im_end|>``), and the clip's video frames and audio features reach every forward pass
(:class:`emoomni.train.collator.OmniCollator`). ``max_train_samples`` caps the records (the first ones,
in order) so that every style trains on the same samples.

Runs. Checkpoints go to ``out_dir/checkpoint-N`` every ``save_steps``; calling :func:`train_sft` again on
the same ``out_dir`` resumes from the newest complete checkpoint (after a kill, or with a larger
``max_steps``), and refuses a directory holding a run of other settings or data. A finished run with the
same settings and data is returned as is. The adapter (safetensors), the processor and
``emoomni_adapter.json`` (base model, settings, counts) land in ``out_dir/adapter``; the Trainer's log
history in ``out_dir/log_history.csv``. :func:`load_sft` loads base + adapter for prediction;
:func:`merge_sft` writes a merged full model that :func:`emoomni.model.load_omni` loads.

Several GPUs (DeepSpeed ZeRO-2, bf16), from the repository root::

    accelerate launch --config_file configs/accelerate/multi_gpu_zero2.yaml -m emoomni.train.sft \\
        --model /models/Qwen2.5-Omni-7B --records runs/paper/omnicot-.../omnicot.jsonl \\
        --manifest /data/mer/manifest.jsonl --data-root /data/mer --label-set mer2023 \\
        --out runs/paper/sft-omnicot --settings params/sft-paper.yaml

(``num_processes`` in the YAML is the number of GPUs; override it with ``--num_processes``.) On a machine
without GPUs, ``torchrun --nproc_per_node 2 -m emoomni.train.sft ...`` runs two CPU processes over gloo
(``accelerate launch --cpu --num_processes 2`` silently runs one).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoomni import ledger
from emoomni.build import OmniCoTRecord, read_records
from emoomni.data.manifest import Sample, read_manifest
from emoomni.labels import label_set
from emoomni.model import chat_messages, load_omni, set_generation_defaults
from emoomni.omnicot import STYLES, check_order, render_style
from emoomni.settings import key_dict, settings_file, when_set
from emoomni.train.collator import chat_row, make_trainer, training_args
from emoomni.train.lora import lora_model
from emoomni.train.runs import (ADAPTER_META, check_out_dir, data_key, finished, run_training, save_adapter,
                                source_id)
from emoomni.train.settings import LoRASettings, TrainerSettings

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class SFTSettings(TrainerSettings, LoRASettings):
    """Cold-start SFT: the shared trainer and LoRA blocks with the paper's defaults (r 8, lora_alpha 32, lr 1e-5)."""

    dtype: str = "float32"
    """Dtype the base model loads in (``bfloat16`` for the 7B)."""
    eval_steps: int = 50
    """Evaluation loss every this many steps (when evaluation records are given)."""
    target_style: str = "omnicot"
    """Reasoning style of the assistant turn: one of :data:`emoomni.omnicot.STYLES`."""
    max_train_samples: int | None = None
    """Train on the first this many records (the same ones for every style); None: all."""
    max_eval_samples: int | None = None
    order: str = when_set("fixed")
    """Section order of the targets: ``fixed``, or ``free`` (evidence shuffled per sample id, analysis last)."""
    keep_best: bool = when_set(False)
    """Keep the adapter of the evaluation with the lowest held-out loss instead of the last one (a checkpoint
    every ``eval_steps``; needs evaluation records). Off by default: the paper trains a fixed schedule."""

    def __post_init__(self) -> None:
        TrainerSettings.__post_init__(self)
        LoRASettings.__post_init__(self)
        check_order(self.order)
        if self.target_style not in STYLES:
            raise ValueError(f"unknown target_style {self.target_style!r}; choose one of {', '.join(STYLES)}")


def sft_rows(records: Sequence[OmniCoTRecord], samples: Sequence[Sample], data_root: str | Path,
             labels: Sequence[str], style: str, include_transcript: bool = True,
             order: str = "fixed") -> list[dict[str, str]]:
    """Dataset rows (see :mod:`emoomni.train.collator`): each record's chat with its trace in ``style`` and ``order``
    (a ``free`` order is drawn from the sample id, :func:`emoomni.omnicot.section_order`)."""
    by_id = {s.id: s for s in samples}
    missing = [r.sample_id for r in records if r.sample_id not in by_id]
    if missing:
        raise KeyError(f"{len(missing)} record(s) have no sample, e.g. {missing[:3]}")
    return [chat_row(r.sample_id, chat_messages(by_id[r.sample_id], labels, data_root,
                                                assistant_text=render_style(r.trace, style, order, r.sample_id),
                                                include_transcript=include_transcript))
            for r in records]


def sft_data(records: Sequence[OmniCoTRecord], samples: Sequence[Sample], data_root: str | Path,
             labels: Sequence[str], settings: SFTSettings,
             eval_records: Sequence[OmniCoTRecord] | None = None) -> tuple[list[dict], list[dict]]:
    """Training and evaluation rows: the first ``max_train_samples`` records (``max_eval_samples``) in the style."""
    s = settings
    chosen = list(records)[: s.max_train_samples] if s.max_train_samples else list(records)
    if s.max_train_samples and len(chosen) < s.max_train_samples:
        log.warning("only %d records for max_train_samples=%d", len(chosen), s.max_train_samples)
    evals = list(eval_records or [])
    evals = evals[: s.max_eval_samples] if s.max_eval_samples else evals
    rows = sft_rows(chosen, samples, data_root, labels, s.target_style, s.include_transcript, s.order)
    return rows, sft_rows(evals, samples, data_root, labels, s.target_style, s.include_transcript, s.order)


def make_sft_trainer(model_path: str | os.PathLike, records: Sequence[OmniCoTRecord], samples: Sequence[Sample],
                     data_root: str | Path, labels: Sequence[str], out_dir: str | Path, settings: SFTSettings,
                     eval_records: Sequence[OmniCoTRecord] | None = None, loaded: tuple[Any, Any] | None = None,
                     **extra_args: Any) -> Any:
    """Load the base, wrap it with LoRA and build the ``SFTTrainer`` (no training); ``extra_args`` go to SFTConfig.

    ``loaded`` is a ``(model, processor)`` pair already in memory (guided tokens added), used instead of
    loading ``model_path``. The trainer carries ``emoomni_meta`` (base model, settings, counts, data hash)
    for :func:`emoomni.train.runs.save_adapter`.
    """
    from transformers import set_seed

    s = settings
    rows, eval_rows = sft_data(records, samples, data_root, labels, s, eval_records)
    model, processor = loaded if loaded is not None else load_omni(model_path, dtype=s.dtype)
    set_seed(s.seed)  # the LoRA A matrices are drawn at random: the same on every rank and every run
    model = lora_model(model, processor, s, labels)
    if s.keep_best:
        if not eval_rows:
            raise ValueError("keep_best needs evaluation records: the best adapter is the one with the lowest held-out loss")
        extra_args = {"load_best_model_at_end": True, "metric_for_best_model": "eval_loss", "greater_is_better": False,
                      "save_steps": s.eval_steps, **extra_args}
    args = training_args(Path(out_dir), s, eval_steps=s.eval_steps if eval_rows else None, **extra_args)
    trainer = make_trainer(model, processor, rows, eval_rows, args, s.fps, s.frame_size)
    trainer.emoomni_meta = {"base_model": source_id(model_path), "settings": key_dict(s),
                            "n_train": len(rows), "n_eval": len(eval_rows), "data_key": data_key(rows + eval_rows),
                            "train_ids": [r["id"] for r in rows]}
    return trainer


def train_sft(model_path: str | os.PathLike, records: Sequence[OmniCoTRecord], samples: Sequence[Sample],
              data_root: str | Path, labels: Sequence[str], out_dir: str | Path, settings: SFTSettings,
              eval_records: Sequence[OmniCoTRecord] | None = None) -> Path:
    """Cold-start SFT of ``model_path`` on ``records``; returns the adapter directory (see the module docstring)."""
    out = Path(out_dir)
    rows, eval_rows = sft_data(records, samples, data_root, labels, settings, eval_records)
    key = data_key(rows + eval_rows)
    done = finished(out, settings, key, model_path, "adapter", ADAPTER_META)
    if done is not None:
        ledger.note(f"SFT {settings.target_style}", done, reused=True)
        return done
    check_out_dir(out, {"base_model": source_id(model_path), "data_key": key, "settings": key_dict(settings)},
                  write=False)  # before loading the model
    trainer = make_sft_trainer(model_path, records, samples, data_root, labels, out, settings, eval_records)
    check_out_dir(out, trainer.emoomni_meta, write=trainer.is_world_process_zero())  # every rank refuses alike
    trainer.accelerator.wait_for_everyone()
    state = run_training(trainer, out)
    adapter = save_adapter(trainer, out / "adapter", {k: state[k] for k in ("resumed_from", "start_step")})
    ledger.note(f"SFT {settings.target_style}", adapter, reused=False)
    return adapter


def load_sft(adapter_dir: str | Path, base: str | os.PathLike | None = None, dtype: str = "float32",
             device: str = "cpu", merge: bool = False) -> tuple[Any, Any]:
    """Load the base model and an SFT adapter for prediction: ``(model in eval mode, processor)``.

    ``base`` defaults to the base model recorded in ``emoomni_adapter.json``. With ``merge`` the adapter is
    merged into a plain thinker (faster; logits equal up to float rounding).
    """
    from peft import PeftModel

    adapter = Path(adapter_dir)
    meta_path = adapter / ADAPTER_META
    if base is None:
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path} is missing; pass the base model explicitly")
        base = json.loads(meta_path.read_text())["base_model"]
    model, processor = load_omni(base, dtype=dtype, device=device)
    model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    if merge:
        model = model.merge_and_unload()
        set_generation_defaults(model, processor)
    model.eval()
    return model, processor


def merge_sft(adapter_dir: str | Path, out_dir: str | Path, base: str | os.PathLike | None = None) -> Path:
    """Merge an adapter into its base and save the full thinker + processor (safetensors) for load_omni."""
    model, processor = load_sft(adapter_dir, base=base, merge=True)
    out = Path(out_dir)
    model.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    return out


def load_settings(path: str | Path | None, **overrides: Any) -> SFTSettings:
    """SFTSettings from a YAML mapping of its fields (unknown keys raise), with overrides on top."""
    return settings_file(SFTSettings, path, **overrides)


def main(argv: Sequence[str] | None = None) -> Path:
    """Command line: ``python -m emoomni.train.sft --model M --records R --manifest F --data-root D --out O``."""
    p = argparse.ArgumentParser(prog="python -m emoomni.train.sft", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="base thinker: a local directory or a hub id")
    p.add_argument("--records", required=True, help="OmniCoT records JSONL (the build stage's omnicot.jsonl)")
    p.add_argument("--manifest", required=True, help="manifest JSONL of the samples the records refer to")
    p.add_argument("--data-root", required=True, help="directory the manifest's media paths are relative to")
    p.add_argument("--out", required=True, help="run directory (checkpoints, log, adapter/)")
    p.add_argument("--label-set", default="synthemo", help="candidate labels (a name in emoomni.labels)")
    p.add_argument("--eval-records", help="OmniCoT records JSONL for the evaluation loss")
    p.add_argument("--settings", help="YAML file of SFTSettings fields")
    p.add_argument("--style", choices=STYLES, help="target reasoning style (overrides the settings)")
    p.add_argument("--max-steps", type=int, help="optimizer steps (overrides the settings)")
    p.add_argument("--max-train-samples", type=int, help="records to train on (overrides the settings)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = load_settings(a.settings, target_style=a.style, max_steps=a.max_steps,
                             max_train_samples=a.max_train_samples)
    samples = read_manifest(a.manifest, a.data_root)
    adapter = train_sft(a.model, read_records(a.records), samples, a.data_root, label_set(a.label_set).labels, a.out,
                        settings, read_records(a.eval_records) if a.eval_records else None)
    log.info("adapter saved to %s", adapter)
    return adapter


if __name__ == "__main__":
    main()
