"""The TRL ``GRPOTrainer`` subclass of DyME-GRPO: Omni media everywhere, and R_mod's statistics from the policy.

See :mod:`emoomni.train.grpo` for what it changes in TRL and why; that module builds it
(:func:`emoomni.train.grpo.make_grpo_trainer`). Importing this module imports TRL.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from trl import GRPOTrainer
from trl.models import unwrap_model_for_generation
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import pad

from emoomni.model import decode, guided_token_ids
from emoomni.model.entropy_sites import check_site, mean_or_none
from emoomni.model.guided_stats import (answer_slots, first_guided, generation_scores, guided_sites, last_position_head,
                                        trim_completions, unwrap_thinker)
from emoomni.train.advantages import alpha_advantage_share, constant_task_fraction
from emoomni.train.lora import merged_token_rows
from emoomni.train.media_rows import collate_media, omni_rows, rope_positions
from emoomni.train.rewards import MODALITIES, accuracy_score, format_score, modality_entropy_reward, modality_weights


class DymeGRPOTrainer(GRPOTrainer):
    """GRPO whose prompts carry Qwen2.5-Omni video and audio everywhere, with R_mod's statistics (module docstring)."""

    def __init__(self, *args: Any, fps: float = 4.0, frame_size: int | None = 112, track_modality: bool = True,
                 entropy_site: str = "emitted", **kwargs: Any) -> None:
        self.fps, self.frame_size, self.track_modality = fps, frame_size, track_modality
        self.entropy_site = check_site(entropy_site)
        self._gen_rows: list[dict] | None = None
        self._gen_scores: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._media_rows: list[dict] | None = None
        super().__init__(*args, **kwargs)
        if self.use_vllm or getattr(self, "use_transformers_continuous_batching", False):
            raise NotImplementedError("only the transformers generate() path carries Omni video and audio")
        self.guided_ids = {k.strip("[]"): int(v) for k, v in guided_token_ids(self.processing_class).items()}

    @contextlib.contextmanager
    def _media(self, rows: list[dict] | None):
        previous, self._media_rows = self._media_rows, rows
        try:
            yield
        finally:
            self._media_rows = previous

    def _tokenize_prompts(self, prompts: list):
        if not all(isinstance(p, str) for p in prompts):
            raise TypeError("GRPO prompts must be chat JSON strings (see emoomni.train.grpo.grpo_rows)")
        unique = list(dict.fromkeys(prompts))  # each prompt repeats num_generations times
        records = dict(zip(unique, omni_rows(self.processing_class, [json.loads(p) for p in unique],
                                             self.fps, self.frame_size)))
        rows = [records[p] for p in prompts]
        self._gen_rows = self._media_rows = rows
        return [r["input_ids"].tolist() for r in rows], None, {}

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations,
                              has_tool_images=False):
        rows = self._gen_rows
        if rows is None or len(rows) != len(prompt_ids):
            raise RuntimeError("no media for this generation batch")
        device = self.accelerator.device
        pad_id = self._tokenizer.pad_token_id
        eos = torch.tensor(self.eos_token_ids, device=device)
        completion_ids: list[list[int] | None] = [None] * len(rows)
        scores: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(rows)
        keep = {"output_logits": True, "return_dict_in_generate": True} if self.track_modality else {}
        groups = [[i for i, r in enumerate(rows) if r["plain"] == flag] for flag in (False, True)]
        with (unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                          gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                          generation_kwargs=self.generation_kwargs,
                                          gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs
                                          ) as unwrapped,
              torch.no_grad(), merged_token_rows(unwrapped), last_position_head(unwrapped),
              self._dist.summon_full_params(self.model_wrapped, recurse=False)):
            for idx in (g for g in groups if g):
                ids = [rows[i]["input_ids"] for i in idx]
                input_ids = pad(ids, padding_value=pad_id, padding_side="left").to(device)
                mask = pad([torch.ones_like(t) for t in ids], padding_value=0, padding_side="left").to(device)
                out = unwrapped.generate(input_ids=input_ids, attention_mask=mask,
                                         **collate_media([rows[i] for i in idx], device),
                                         generation_config=self.generation_config, **keep)
                comp = (out.sequences if keep else out)[:, input_ids.size(1):]
                if keep:  # H_m, p_m and most of p* are read off these instead of a second forward pass
                    logp, ent = generation_scores(out.logits, comp, self.temperature)
                is_eos = torch.isin(comp, eos)  # keep through the first end token, as TRL does
                first = torch.where(is_eos.any(1), is_eos.int().argmax(1),
                                    torch.full_like(is_eos[:, 0], comp.size(1), dtype=torch.long))
                for j, i in enumerate(idx):
                    completion_ids[i] = comp[j, : int(first[j]) + 1].tolist()
                    if keep:
                        scores[i] = (logp[j, : int(first[j]) + 1].cpu(), ent[j, : int(first[j]) + 1].cpu())
        self._gen_scores = scores if keep else None
        return completion_ids, None

    def _generate_and_score_completions(self, inputs):
        try:
            output = super()._generate_and_score_completions(inputs)
            output["media"] = self._gen_rows  # a per-row list: shuffled and split with every other column
        finally:
            self._gen_rows = self._media_rows = self._gen_scores = None
        return output

    def _score_sequences(self, seqs: Sequence[Sequence[int]], rows: Sequence[dict]
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-prob and entropy at each position of each teacher-forced sequence after its prompt (no grad)."""
        device = self.accelerator.device
        pad_id = self._tokenizer.pad_token_id
        prompts = [r["input_ids"] for r in rows]
        p_ids = pad(prompts, padding_value=pad_id, padding_side="left")
        p_mask = pad([torch.ones_like(t) for t in prompts], padding_value=0, padding_side="left")
        s_ids = pad([torch.tensor(list(x) or [pad_id], dtype=torch.long) for x in seqs], padding_value=pad_id,
                    padding_side="right")
        s_mask = pad([torch.tensor([1] * len(x) or [0]) for x in seqs], padding_value=0, padding_side="right")
        ids, mask = torch.cat([p_ids, s_ids], 1).to(device), torch.cat([p_mask, s_mask], 1).to(device)
        size = self.args.per_device_train_batch_size if self.model.training else self.args.per_device_eval_batch_size
        with (torch.no_grad(), disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
              merged_token_rows(self.model)):
            logps, entropies, _ = self._get_per_token_logps_and_entropies(
                self.model, ids, mask, s_ids.size(1), batch_size=size, compute_entropy=True, media=rows)
        return logps.float().cpu(), entropies.float().cpu()

    def modality_statistics(self, completion_ids: Sequence[Sequence[int]], golds: Sequence[str | None],
                            needed: Sequence[bool] | None = None, from_generation: bool = True
                            ) -> tuple[list[dict], list[float | None]]:
        """Per completion ``{modality: {"entropy", "prob"} or None}`` at each guided token, and p* (or None).

        Only the completions marked in ``needed`` (default: all) are scored; the others get None
        everywhere. DyME-GRPO scores the valid traces only, as R_mod is 0 for every other one. With
        ``from_generation`` and the logits of the generation that produced ``completion_ids`` at hand,
        H_m, p_m and p* of the completions that end in the gold answer are read off those logits, and
        only the other completions' p* takes a teacher-forced pass; otherwise everything does.
        """
        scores = self._gen_scores if from_generation else None
        if scores is not None and [len(x[0]) for x in scores] != [len(c) for c in completion_ids]:
            raise ValueError("the generation logits at hand belong to other completions")
        n = len(completion_ids)
        needed = [True] * n if needed is None else list(needed)
        chosen = [b for b in range(n) if needed[b]]
        guided_all: list[dict] = [{m: None for m in self.guided_ids} for _ in range(n)]
        p_star_all: list[float | None] = [None] * n
        if chosen:
            guided, p_star = self._statistics([completion_ids[b] for b in chosen], [golds[b] for b in chosen],
                                              [self._gen_rows[b] for b in chosen],
                                              None if scores is None else [scores[b] for b in chosen])
            for k, b in enumerate(chosen):
                guided_all[b], p_star_all[b] = guided[k], p_star[k]
        return guided_all, p_star_all

    def _statistics(self, completion_ids: Sequence[Sequence[int]], golds: Sequence[str | None],
                    media: Sequence[dict], scores: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None
                    ) -> tuple[list[dict], list[float | None]]:
        """:meth:`modality_statistics` for every completion given, with its prompt's media records and, when
        given, generation's per-token ``(log-probability, entropy)``."""
        tok = self._tokenizer
        stops = set(self.eos_token_ids) | {tok.pad_token_id}
        width = max(1, max(len(c) for c in completion_ids))
        padded = torch.full((len(completion_ids), width), tok.pad_token_id, dtype=torch.long)
        for b, c in enumerate(completion_ids):
            padded[b, :len(c)] = torch.tensor(c, dtype=torch.long)
        rows, with_stop = trim_completions(padded, stops)
        seqs, kept_len, spans = answer_slots(tok, rows, golds)
        found = first_guided(rows, self.guided_ids)
        sites = guided_sites(rows, with_stop, found, list(self.guided_ids.values()), self.entropy_site, tok)
        if scores is not None:
            g_logp, g_ent = (pad([s[k] for s in scores], padding_value=0.0) for k in (0, 1))
            answer = {b: g_logp[b, span[0]:span[1]] for b, span in enumerate(spans)
                      if span is not None and seqs[b][:span[1]] == with_stop[b][:span[1]]}
        else:
            logp, ent = self._score_sequences(seqs, media)
            answer = {b: logp[b, span[0]:span[1]] for b, span in enumerate(spans) if span is not None}
            if all(i < kept_len[b] for (b, _, j), idx in zip(found, sites) for i in (j, *idx)):
                g_logp, g_ent = logp, ent  # every guided token and site lies before the answer slot: one pass
            else:
                g_logp, g_ent = self._score_sequences(with_stop, media)
        redo = [b for b, span in enumerate(spans) if span is not None and b not in answer]
        if redo:  # the gold answer was not what was generated: teacher-force it
            logp, _ = self._score_sequences([seqs[b] for b in redo], [media[b] for b in redo])
            answer.update({b: logp[k, spans[b][0]:spans[b][1]] for k, b in enumerate(redo)})
        guided: list[dict] = [{n: None for n in self.guided_ids} for _ in rows]
        for (b, name, j), idx in zip(found, sites):
            h = mean_or_none([float(g_ent[b, i]) for i in idx])
            if h is not None:
                guided[b][name] = {"entropy": h, "prob": math.exp(float(g_logp[b, j]))}
        p_star = [math.exp(sum(answer[b].tolist())) if b in answer else None for b in range(len(rows))]
        return guided, p_star

    def _log_mean(self, name: str, values: Sequence[float]) -> None:
        """Append the mean of ``values`` over every process to this step's metrics (skipped when none anywhere)."""
        local = torch.tensor([float(sum(values)), float(len(values))], device=self.accelerator.device)
        total = self.accelerator.reduce(local, reduction="sum")
        if total[1] > 0:
            mode = "train" if self.model.training else "eval"
            self._metrics[mode][name].append(float(total[0] / total[1]))

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        texts = decode(self.processing_class, [list(c) for c in completion_ids_list])
        golds = [x.get("gold") for x in inputs]
        fmt = [format_score(t, x.get("order") or "fixed") for t, x in zip(texts, inputs)]
        acc = [accuracy_score(t, g, x.get("label_set")) if g is not None else 0.0
               for t, g, x in zip(texts, golds, inputs)]
        self._log_mean("dyme/format_rate", fmt)
        self._log_mean("dyme/accuracy", acc)
        if self.track_modality:
            start = time.perf_counter()
            guided, p_star = self.modality_statistics(completion_ids_list, golds, needed=[f > 0 for f in fmt])
            for x, g, p in zip(inputs, guided, p_star):
                x["guided_stats"], x["p_star"] = g, p
            self._log_modality(guided, p_star, fmt)
            self._log_mean("dyme/stats_seconds", [time.perf_counter() - start])
        rewards_per_func = super()._calculate_rewards(inputs, prompts, texts, completion_ids_list)
        self._log_advantages(rewards_per_func)
        return rewards_per_func

    def _log_advantages(self, rewards_per_func: torch.Tensor) -> None:
        """Per step: the share of the advantage the alpha term decides, and the groups with a constant task reward.

        ``rewards_per_func`` is TRL's, gathered over every process, so each process logs the same
        numbers. The task reward is the weighted sum of every reward but ``modality``.
        """
        mode = "train" if self.model.training else "eval"
        group = self.num_generations if mode == "train" else self.num_generations_eval
        weights = self.reward_weights.to(rewards_per_func.device)
        is_mod = torch.tensor([n == "modality_reward" for n in self.reward_func_names], device=weights.device)
        weighted = torch.nan_to_num(rewards_per_func * weights.unsqueeze(0), nan=0.0)
        task = weighted[:, ~is_mod].sum(1).tolist()
        term = weighted[:, is_mod].sum(1).tolist()
        if not task or len(task) % group:
            return
        self._metrics[mode]["dyme/constant_task_groups"].append(constant_task_fraction(task, group))
        if bool(is_mod.any()):
            self._metrics[mode]["dyme/advantage_share_alpha"].append(
                alpha_advantage_share(task, term, 1.0, group, self.scale_rewards))

    def _log_modality(self, guided: list[dict], p_star: list[float | None], fmt: list[float]) -> None:
        """Per-step means of H_m (both modalities, and each, at the entropy site), p_m, w_m, p* and R_mod over the
        valid traces."""
        valid = [(g, p) for g, p, f in zip(guided, p_star, fmt) if f and all(g[m] for m in MODALITIES)]
        self._log_mean("dyme/H_m", [g[m]["entropy"] for g, _ in valid for m in MODALITIES])
        for m in MODALITIES:
            self._log_mean(f"dyme/H_{m}", [g[m]["entropy"] for g, _ in valid])
            self._log_mean(f"dyme/p_{m}", [g[m]["prob"] for g, _ in valid])
        weights = [modality_weights({m: g[m]["entropy"] for m in MODALITIES},
                                    {m: g[m]["prob"] for m in MODALITIES}) for g, _ in valid]
        for m in MODALITIES:
            self._log_mean(f"dyme/w_{m}", [w[m] for w in weights])
        self._log_mean("dyme/p_star", [p for _, p in valid if p is not None])
        self._log_mean("dyme/R_mod", [modality_entropy_reward({m: g[m]["entropy"] for m in MODALITIES},
                                                              {m: g[m]["prob"] for m in MODALITIES}, p)
                                      for g, p in valid])

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                           media=None, **image_kwargs):
        media = media if media is not None else self._media_rows
        if media is None:
            raise RuntimeError("a forward pass without the prompts' media: the loss would see another context")
        if any(v is not None for v in image_kwargs.values()):
            raise ValueError("TRL image inputs together with Omni media records")
        if len(media) != input_ids.size(0):
            raise ValueError(f"{len(media)} media records for {input_ids.size(0)} sequences")
        thinker = unwrap_thinker(model)
        batch_size = batch_size or input_ids.size(0)
        all_logps, all_entropies, all_aux = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            ids, mask, rows = input_ids[start:end], attention_mask[start:end], media[start:end]
            model_inputs = {"input_ids": ids, "attention_mask": mask, **collate_media(rows, ids.device)}
            pos = rope_positions(thinker, ids, mask, rows)
            if pos is not None:
                model_inputs["position_ids"] = pos
            if compute_aux_loss:
                model_inputs["output_router_logits"] = True
            labels = ids.masked_fill(mask == 0, -100)  # as TRL: scored tokens only in the completion
            labels[:, :-logits_to_keep] = -100
            with self.accelerator.autocast():
                outputs = model(**model_inputs, labels=labels, fused_lm_head=True)
            all_logps.append(outputs.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                all_entropies.append(outputs.entropy[:, -logits_to_keep:])
            if compute_aux_loss:
                all_aux.append(outputs.aux_loss)
        logps = torch.cat(all_logps, 0)
        entropies = torch.cat(all_entropies, 0) if compute_entropy else None
        aux = torch.stack(all_aux).mean() if compute_aux_loss else None
        return logps, entropies, aux

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "media" not in inputs:
            raise KeyError("the batch lost its media records; the policy loss needs the prompts' video and audio")
        with self._media(inputs["media"]):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
