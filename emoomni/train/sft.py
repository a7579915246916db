"""Cold-start SFT: LoRA on the thinker's language model, guided-token rows trained, TRL ``SFTTrainer``.

What trains. A peft LoRA adapter (rank 8, alpha 32 in the paper) on the linear layers of the language
model only (:data:`LANGUAGE_MODEL_LINEARS`: ``model.language_model.layers.N.self_attn.{q,k,v,o}_proj``
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
``emoomni_sft.json`` (base model, settings, counts) land in ``out_dir/adapter``; the Trainer's log
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
import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoomni import ledger
from emoomni.build import OmniCoTRecord
from emoomni.data.manifest import Sample
from emoomni.omnicot import STYLES, render_style
from emoomni.records import write_lines
from emoomni.train.collator import (chat_row, data_key, finished, latest_checkpoint, make_trainer, run_training,
                                   training_args)

log = logging.getLogger(__name__)

LANGUAGE_MODEL_LINEARS = r".*language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
"""LoRA targets: every linear layer of the thinker's language model, nothing in the audio or vision encoders."""

SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
# Settings that may change between calls on one out_dir without invalidating its checkpoints.
RESUMABLE = ("max_steps", "epochs", "save_steps", "eval_steps", "logging_steps", "save_total_limit",
             "dataloader_num_workers")
META = "emoomni_sft.json"


@dataclass(frozen=True)
class SFTSettings:
    """Cold-start SFT settings; the defaults are the paper's (LoRA r=8, alpha=32, lr 1e-5, constant schedule)."""

    rank: int = 8
    """LoRA rank."""
    alpha: int = 32
    """LoRA alpha (the update is scaled by alpha / rank)."""
    dropout: float = 0.05
    """LoRA dropout."""
    target_modules: str = LANGUAGE_MODEL_LINEARS
    """Regex (full match on module names) choosing the LoRA layers; keep it inside the language model."""
    train_guided_tokens: bool = True
    """Train the guided tokens' embedding and lm_head rows (peft ``trainable_token_indices``)."""
    train_answer_tokens: bool = False
    """Also train the rows of the tokens the answers ``<answer>label</answer>`` are made of. A real base
    knows them; the tiny base never sees them before SFT, and their random lm_head rows left every SFT
    model on one label while its own analysis named others."""
    learning_rate: float = 1e-5
    """Peak learning rate (AdamW)."""
    lr_scheduler: str = "constant"
    """One of :data:`SCHEDULERS`."""
    warmup: float = 0.0
    """Warm-up: a fraction of the steps when below 1, else a number of steps."""
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    per_device_batch_size: int = 4
    """Clips per device and micro-batch."""
    gradient_accumulation_steps: int = 1
    epochs: float = 1.0
    """Passes over the training records (ignored when ``max_steps`` > 0)."""
    max_steps: int = -1
    """Optimizer steps to train for; -1 trains for ``epochs``."""
    eval_steps: int = 50
    """Evaluation loss every this many steps (when evaluation records are given)."""
    save_steps: int = 50
    """A checkpoint every this many steps (what a killed run resumes from)."""
    save_total_limit: int | None = 3
    """Checkpoints kept (the newest); None keeps all."""
    logging_steps: int = 1
    bf16: bool = False
    """bf16 mixed precision (GPUs)."""
    dtype: str = "float32"
    """Dtype the base model loads in (``bfloat16`` for the 7B)."""
    gradient_checkpointing: bool = False
    seed: int = 0
    target_style: str = "omnicot"
    """Reasoning style of the assistant turn: one of :data:`emoomni.omnicot.STYLES`."""
    max_train_samples: int | None = None
    """Train on the first this many records (the same ones for every style); None: all."""
    max_eval_samples: int | None = None
    include_transcript: bool = True
    """Show the transcript in the user turn."""
    fps: float = 4.0
    """Video frame sampling rate for the processor."""
    frame_size: int = 112
    """Largest frame edge for the processor."""
    dataloader_num_workers: int = 0

    def __post_init__(self) -> None:
        if self.target_style not in STYLES:
            raise ValueError(f"unknown target_style {self.target_style!r}; choose one of {', '.join(STYLES)}")
        if self.lr_scheduler not in SCHEDULERS:
            raise ValueError(f"unknown lr_scheduler {self.lr_scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        if self.rank <= 0 or self.per_device_batch_size <= 0 or self.gradient_accumulation_steps <= 0:
            raise ValueError("rank, per_device_batch_size and gradient_accumulation_steps must be positive")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError("set max_steps > 0 or epochs > 0")


def sft_rows(records: Sequence[OmniCoTRecord], samples: Sequence[Sample], data_root: str | Path,
             labels: Sequence[str], style: str, include_transcript: bool = True) -> list[dict[str, str]]:
    """Dataset rows (see :mod:`emoomni.train.collator`): each record's chat with its trace in ``style``."""
    from emoomni.model import chat_messages

    by_id = {s.id: s for s in samples}
    missing = [r.sample_id for r in records if r.sample_id not in by_id]
    if missing:
        raise KeyError(f"{len(missing)} record(s) have no sample, e.g. {missing[:3]}")
    return [chat_row(r.sample_id, chat_messages(by_id[r.sample_id], labels, data_root,
                                                assistant_text=render_style(r.trace, style),
                                                include_transcript=include_transcript))
            for r in records]


def trainable_token_ids(processor: Any, settings: Any, labels: Sequence[str] = ()) -> list[int]:
    """The token ids whose embedding and lm_head rows train: guided tokens and, when asked, the answer tokens."""
    from emoomni.model import answer_token_ids, guided_token_ids

    ids = set(guided_token_ids(processor).values()) if settings.train_guided_tokens else set()
    if settings.train_answer_tokens:
        if not labels:
            raise ValueError("train_answer_tokens needs the label set whose answers are trained")
        ids |= set(answer_token_ids(processor, labels))
    return sorted(ids)


def lora_model(model: Any, processor: Any, settings: SFTSettings, labels: Sequence[str] = ()) -> Any:
    """Wrap the thinker with the LoRA adapter and the trainable token rows (see the module docstring)."""
    from peft import LoraConfig, get_peft_model

    ids = trainable_token_ids(processor, settings, labels)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=settings.target_modules, task_type="CAUSAL_LM",
                        trainable_token_indices={"embed_tokens": ids, "lm_head": ids} if ids else None)
    peft_model = get_peft_model(model, config)
    _fused_head_fix(peft_model)
    return peft_model


def _fused_head_fix(model: Any) -> None:
    """TRL's fused LM head reads ``lm_head.bias``, which peft's ``TrainableTokensWrapper`` lacks: set it to None."""
    head = model.get_output_embeddings()
    if head is not None and type(head).__name__ == "TrainableTokensWrapper" and "bias" not in vars(head):
        head.bias = None


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
    rows = sft_rows(chosen, samples, data_root, labels, s.target_style, s.include_transcript)
    return rows, sft_rows(evals, samples, data_root, labels, s.target_style, s.include_transcript)


def make_sft_trainer(model_path: str | os.PathLike, records: Sequence[OmniCoTRecord], samples: Sequence[Sample],
                     data_root: str | Path, labels: Sequence[str], out_dir: str | Path, settings: SFTSettings,
                     eval_records: Sequence[OmniCoTRecord] | None = None, **extra_args: Any) -> Any:
    """Load the base, wrap it with LoRA and build the ``SFTTrainer`` (no training); ``extra_args`` go to SFTConfig.

    The trainer carries ``emoomni_meta`` (base model, settings, counts, data hash) for :func:`save_adapter`.
    """
    from transformers import set_seed

    from emoomni.model import load_omni

    s = settings
    rows, eval_rows = sft_data(records, samples, data_root, labels, s, eval_records)
    model, processor = load_omni(model_path, dtype=s.dtype)
    set_seed(s.seed)  # the LoRA A matrices are drawn at random: the same on every rank and every run
    model = lora_model(model, processor, s, labels)
    args = training_args(
        Path(out_dir), learning_rate=s.learning_rate, lr_scheduler=s.lr_scheduler, warmup=s.warmup,
        weight_decay=s.weight_decay, max_grad_norm=s.max_grad_norm, per_device_batch_size=s.per_device_batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps, epochs=s.epochs, max_steps=s.max_steps,
        save_steps=s.save_steps, save_total_limit=s.save_total_limit, logging_steps=s.logging_steps, bf16=s.bf16,
        gradient_checkpointing=s.gradient_checkpointing, seed=s.seed, eval_steps=s.eval_steps if eval_rows else None,
        dataloader_num_workers=s.dataloader_num_workers, **extra_args)
    trainer = make_trainer(model, processor, rows, eval_rows, args, s.fps, s.frame_size)
    trainer.emoomni_meta = {"base_model": _abs(model_path), "settings": dataclasses.asdict(s),
                            "n_train": len(rows), "n_eval": len(eval_rows), "data_key": data_key(rows + eval_rows),
                            "train_ids": [r["id"] for r in rows]}
    return trainer


def _comparable(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in RESUMABLE}


def _check_out_dir(out: Path, meta: dict, write: bool = True) -> None:
    """Refuse an out_dir whose checkpoints come from other settings or data; record ours (when ``write``)."""
    path = out / "run.json"
    mine = json.loads(json.dumps({"base_model": meta["base_model"], "data_key": meta["data_key"],
                                  "settings": _comparable(meta["settings"])}))  # tuples compare as stored lists
    if path.exists():
        theirs = json.loads(path.read_text())
        if theirs != mine and latest_checkpoint(out) is not None:
            diff = sorted(k for k in set(theirs["settings"]) | set(mine["settings"])
                          if theirs["settings"].get(k) != mine["settings"].get(k))
            other = [k for k in ("base_model", "data_key") if theirs.get(k) != mine.get(k)]
            raise ValueError(f"{out} holds checkpoints of another run (differs in {other + diff}); "
                             "choose another out_dir or delete it")
    if write:
        write_lines([json.dumps(mine, indent=1, sort_keys=True)], path)  # atomic: another rank never reads half a file


def save_adapter(trainer: Any, adapter_dir: str | Path, state: dict | None = None) -> Path:
    """Save the adapter (safetensors), the processor and ``emoomni_sft.json`` (base, settings, counts)."""
    adapter = Path(adapter_dir)
    trainer.save_model(str(adapter))
    if trainer.is_world_process_zero():
        (adapter / "training_args.bin").unlink(missing_ok=True)  # a pickle; the settings are in emoomni_sft.json
        trainer.processing_class.save_pretrained(str(adapter))
        meta = {**trainer.emoomni_meta, "global_step": trainer.state.global_step, **(state or {})}
        (adapter / META).write_text(json.dumps(meta, indent=1, default=str))
    trainer.accelerator.wait_for_everyone()
    return adapter


def train_sft(model_path: str | os.PathLike, records: Sequence[OmniCoTRecord], samples: Sequence[Sample],
              data_root: str | Path, labels: Sequence[str], out_dir: str | Path, settings: SFTSettings,
              eval_records: Sequence[OmniCoTRecord] | None = None) -> Path:
    """Cold-start SFT of ``model_path`` on ``records``; returns the adapter directory (see the module docstring)."""
    out = Path(out_dir)
    rows, eval_rows = sft_data(records, samples, data_root, labels, settings, eval_records)
    key = data_key(rows + eval_rows)
    done = finished(out, settings, key, "adapter", META)
    if done is not None and json.loads((done / META).read_text()).get("base_model") == _abs(model_path):
        ledger.note(f"SFT {settings.target_style}", done, reused=True)
        return done
    _check_out_dir(out, {"base_model": _abs(model_path), "data_key": key, "settings": dataclasses.asdict(settings)},
                   write=False)  # before loading the model
    trainer = make_sft_trainer(model_path, records, samples, data_root, labels, out, settings, eval_records)
    _check_out_dir(out, trainer.emoomni_meta, write=trainer.is_world_process_zero())  # every rank refuses alike
    trainer.accelerator.wait_for_everyone()
    state = run_training(trainer, out)
    adapter = save_adapter(trainer, out / "adapter", {k: state[k] for k in ("resumed_from", "start_step")})
    ledger.note(f"SFT {settings.target_style}", adapter, reused=False)
    return adapter


def load_sft(adapter_dir: str | Path, base: str | os.PathLike | None = None, dtype: str = "float32",
             device: str = "cpu", merge: bool = False) -> tuple[Any, Any]:
    """Load the base model and an SFT adapter for prediction: ``(model in eval mode, processor)``.

    ``base`` defaults to the base model recorded in ``emoomni_sft.json``. With ``merge`` the adapter is
    merged into a plain thinker (faster; logits equal up to float rounding).
    """
    from peft import PeftModel

    from emoomni.model import load_omni, set_generation_defaults

    adapter = Path(adapter_dir)
    meta_path = adapter / META
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


def _abs(path: str | os.PathLike) -> str:
    """An existing local path made absolute; a hub id unchanged."""
    p = Path(os.fspath(path)).expanduser()
    return str(p.resolve()) if p.exists() else os.fspath(path)


def load_settings(path: str | Path | None, **overrides: Any) -> SFTSettings:
    """SFTSettings from a YAML mapping of its fields (unknown keys raise), with overrides on top."""
    from emoomni.config import settings_file

    return settings_file(SFTSettings, path, **overrides)


def main(argv: Sequence[str] | None = None) -> Path:
    """Command line: ``python -m emoomni.train.sft --model M --records R --manifest F --data-root D --out O``."""
    from emoomni.build import read_records
    from emoomni.data.manifest import read_manifest
    from emoomni.labels import label_set

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
