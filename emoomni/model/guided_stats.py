"""Exact guided-token statistics (H_m, p_m) and the gold-answer probability p*, shared by prediction and DyME-GRPO.

Each statistic is read off the logits ``generate`` already computed wherever the scored token's prefix
is what was generated (:func:`read_generation`, :func:`generation_scores`), else it comes from one
teacher-forced forward pass over ``prompt + completion`` (p*: over ``prompt + completion prefix + gold``):
the backbone runs once and the LM head projects only the rows that are needed, in tiles of ``chunk``
rows, so no ``(batch, time, vocab)`` logits are ever materialised. :func:`completion_stats` gets both
from a single pass whenever every guided token lies before the answer slot (every valid trace).

Public API: :func:`guided_stats`, :func:`answer_probs`, :func:`p_star`, :func:`completion_stats`; helpers
:func:`stop_ids`, :func:`completion_lengths`, :func:`extend_position_ids`, :func:`teacher_forced_hidden`,
:func:`answer_slot`, :func:`last_position_head` (generation without the prefill's full logit matrix), and
the pieces DyME-GRPO's reward pass reuses: :func:`trim_completions`, :func:`first_guided`,
:func:`guided_sites`, :func:`answer_slots`, :func:`generation_scores`.

Conventions (decided once, tested in ``tests/test_predict.py``):

- **Which distribution.** The raw model distribution at temperature 1: ``softmax(lm_head(h))`` over the
  full vocabulary, computed in float32 from the LM head's output, *before* any generation-time
  logits processor (no temperature, top-p / top-k, or ``suppress_tokens`` masking). The suppressed
  multimodal placeholder ids therefore keep their (small) share of the entropy.
- **Where.** For a completion ``c_0 .. c_{L-1}`` after a prompt of (padded) length ``T``, token ``c_j``
  is generated from the hidden state at position ``T + j - 1``. p_m is the probability that
  distribution gives ``c_j``, the guided token of modality ``m``; H_m is the Shannon entropy (nats) at
  the chosen entropy site (:mod:`emoomni.model.entropy_sites`): by default (``emitted``) that same
  distribution, else the one after it (``following``) or the mean over the section it opens
  (``section``). A site with no distribution to read gives None for the modality.
- **Which tokens count.** Only tokens before the first stop id (``eos_token_id`` of the model's
  generation config, plus its pad id) are searched; what follows is padding.
- **Missing / repeated guided tokens.** A guided token that was not generated gives ``None`` for that
  modality. One generated more than once is measured at its *first* occurrence. H_m can be 0 (a
  one-hot distribution); what a reward does with ``p_m / H_m`` then is the reward's convention.
- **Inputs.** The prompt inputs are the ``BatchFeature`` from :func:`emoomni.model.omni_inputs` with left
  padding (``attention_mask[:, -1]`` all ones). Per-sample 3D ``position_ids`` (mixed audio-in-video
  batches) are extended over the completion: each completion token ``j`` gets ``last + 1 + j`` on every
  rotary axis, where ``last`` is the prompt's last position, which is what generation assigns (text
  after the last media token advances all three axes together). Without ``position_ids`` the model
  computes the 3D positions itself over the whole ``prompt + completion`` sequence. Padding after
  the stop token (and after p*'s gold tokens) is masked out and never read.
- **Gradients.** Statistics are computed under ``torch.no_grad()`` (they are rewards and diagnostics, not
  losses). The model's train / eval mode is left as the caller set it.

p* (see :func:`answer_probs`) follows the same distribution convention; its own rules are documented there.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from emoomni.model.entropy_sites import check_site, mean_or_none, site_indices, tag_start
from emoomni.model.inputs import select_rows

MODALITIES = ("vision", "audio")
ANSWER_TAG = "<answer>"
THINK_END = "</think>"

# Prompt-input keys that describe the token sequence; every other tensor key is media and passes through.
_SEQUENCE_KEYS = {"input_ids", "attention_mask", "position_ids", "labels", "token_type_ids", "mm_token_type_ids"}


def unwrap_thinker(model: Any) -> Any:
    """The thinker itself, under DDP / accelerate (``.module``) and peft (``get_base_model``) wrappers."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


@contextmanager
def last_position_head(model: Any) -> Iterator[Any]:
    """Within the block the LM head projects only each row's last position, all that ``generate`` reads.

    The thinker has no ``logits_to_keep``, so a prefill would otherwise make a (rows, prompt, vocabulary)
    logit matrix: 9 GiB in bf16 for 8 completions of a 12 s clip's prompt at the 7B's vocabulary. Every
    decoding step's input has one position already, so nothing generated changes.
    """
    head = unwrap_thinker(model).get_output_embeddings()
    handle = head.register_forward_pre_hook(lambda _, args: (args[0][:, -1:], *args[1:]))
    try:
        yield model
    finally:
        handle.remove()


def stop_ids(model: Any) -> set[int]:
    """Ids that end a completion: the generation config's ``eos_token_id`` (one or a list) and its pad id."""
    gc = unwrap_thinker(model).generation_config
    eos = gc.eos_token_id
    ids = set(eos if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else []))
    if gc.pad_token_id is not None:
        ids.add(gc.pad_token_id)
    return {int(i) for i in ids}


def completion_lengths(completion_ids: torch.Tensor, stops: set[int]) -> list[int]:
    """Per row, the number of tokens before the first stop id (the whole row when there is none).

    >>> completion_lengths(torch.tensor([[5, 6, 2, 0], [5, 5, 5, 5]]), {2, 0})
    [2, 4]
    """
    out = []
    for row in completion_ids.tolist():
        out.append(next((j for j, t in enumerate(row) if t in stops), len(row)))
    return out


def extend_position_ids(position_ids: torch.Tensor, n: int) -> torch.Tensor:
    """Extend ``(axes, batch, T)`` rotary positions of left-padded prompts by ``n`` text tokens: ``last + 1 + j``.

    >>> extend_position_ids(torch.tensor([[[1, 1, 2, 5]], [[1, 1, 3, 5]], [[1, 1, 4, 5]]]), 2)[:, 0].tolist()
    [[1, 1, 2, 5, 6, 7], [1, 1, 3, 5, 6, 7], [1, 1, 4, 5, 6, 7]]
    """
    step = torch.arange(1, n + 1, device=position_ids.device, dtype=position_ids.dtype)
    return torch.cat([position_ids, position_ids[..., -1:] + step], dim=-1)


def teacher_forced_hidden(model: Any, inputs: Mapping[str, Any], seq_ids: torch.Tensor,
                          seq_mask: torch.Tensor) -> torch.Tensor:
    """Last hidden states ``(batch, T + L, hidden)`` of the backbone over ``prompt + seq`` (no LM head)."""
    thinker = unwrap_thinker(model)
    backbone = getattr(thinker, thinker.base_model_prefix)
    prompt_ids, prompt_mask = inputs["input_ids"], inputs["attention_mask"]
    if prompt_ids.shape[1] and not bool(prompt_mask[:, -1].all()):
        raise ValueError("prompt inputs must be left padded (build them with omni_inputs(..., padding_side='left'))")
    device = prompt_ids.device
    seq_ids, seq_mask = seq_ids.to(device), seq_mask.to(device=device, dtype=prompt_mask.dtype)
    kwargs = {k: v for k, v in inputs.items() if k not in _SEQUENCE_KEYS}
    if inputs.get("position_ids") is not None:
        kwargs["position_ids"] = extend_position_ids(inputs["position_ids"], seq_ids.shape[1])
    out = backbone(input_ids=torch.cat([prompt_ids, seq_ids], dim=1),
                   attention_mask=torch.cat([prompt_mask, seq_mask], dim=1), use_cache=False, **kwargs)
    return out.last_hidden_state


def _target_logp_and_entropy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of ``(rows, vocab)`` logits: the log-probability of its target and the distribution's entropy (float32)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = logp.exp()
    entropy = -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1)
    return logp.gather(-1, targets[:, None].to(logp.device)).squeeze(-1), entropy


def _project(model: Any, rows: torch.Tensor, targets: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each target and the entropy of each row's full next-token distribution (float32)."""
    head = unwrap_thinker(model).get_output_embeddings()
    logps, ents = [], []
    for s in range(0, rows.shape[0], chunk):
        logp, entropy = _target_logp_and_entropy(head(rows[s:s + chunk]), targets[s:s + chunk])
        logps.append(logp)
        ents.append(entropy)
    if not logps:
        empty = rows.new_zeros(0, dtype=torch.float32)
        return empty, empty
    return torch.cat(logps), torch.cat(ents)


def generation_scores(logits: Sequence[torch.Tensor], tokens: torch.Tensor, temperature: float = 1.0
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per generated token, its log-probability and the entropy of the distribution it was drawn from (float32).

    ``logits`` are ``generate``'s raw per-step logits (``output_logits=True``: before any logits
    processor), one ``(batch, vocab)`` tensor per step, divided by ``temperature`` as the policy's
    teacher-forced pass divides them; ``tokens`` the ``(batch, steps)`` generated ids.

    >>> lp, h = generation_scores([torch.zeros(1, 4)], torch.tensor([[2]]))
    >>> round(float(lp[0, 0].exp()), 2), round(float(h[0, 0]), 4) == round(math.log(4), 4)
    (0.25, True)
    """
    if len(logits) != tokens.size(1):
        raise ValueError(f"{len(logits)} steps of logits for {tokens.size(1)} generated tokens")
    steps = [_target_logp_and_entropy(scores.float() / temperature, tokens[:, step])
             for step, scores in enumerate(logits)]
    return torch.stack([lp for lp, _ in steps], 1), torch.stack([h for _, h in steps], 1)


def read_generation(logits: Sequence[torch.Tensor], generated: torch.Tensor, seqs: Sequence[Sequence[int]],
                    wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], tuple[float, float]]:
    """``(b, j) -> (log-probability of seqs[b][j], entropy)`` off ``generate``'s step-``j`` logits, for each
    wanted position whose prefix ``seqs[b][:j]`` is what row ``b`` generated (its context is then the
    same as in a teacher-forced pass); the other positions are left out.

    >>> gen = torch.tensor([[5, 6]])
    >>> read = read_generation([torch.zeros(1, 8)] * 2, gen, [[5, 7]], [(0, 0), (0, 1)])
    >>> sorted(read), round(math.exp(read[(0, 1)][0]), 3)
    ([(0, 0), (0, 1)], 0.125)
    >>> read_generation([torch.zeros(1, 8)] * 2, gen, [[4, 7]], [(0, 1)])
    {}
    """
    rows = generated.tolist()
    readable = [(b, j) for b, j in wanted if j < len(logits) and list(seqs[b][:j]) == rows[b][:j]]
    if not readable:
        return {}
    logp, ent = _target_logp_and_entropy(torch.stack([logits[j][b] for b, j in readable]),
                                         torch.tensor([seqs[b][j] for b, j in readable]))
    return dict(zip(readable, zip(logp.tolist(), ent.tolist())))


def _modality(name: str) -> str:
    """``'[vision]'`` or ``'vision'`` -> ``'vision'``."""
    return name.strip("[]")


def _score(model: Any, inputs: Mapping[str, Any], seqs: Sequence[Sequence[int]], wanted: Sequence[tuple[int, int]],
           pad: int, chunk: int) -> tuple[list[float], list[float]]:
    """One teacher-forced pass over ``prompt + seqs[b]`` (right padded); for each ``(b, j)`` in ``wanted``, the
    log-probability of ``seqs[b][j]`` and the entropy of the distribution that predicts it."""
    if not wanted:
        return [], []
    width = max(len(s) for s in seqs)
    seq_ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    seq_mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for b, s in enumerate(seqs):
        seq_ids[b, :len(s)] = torch.tensor(list(s), dtype=torch.long)
        seq_mask[b, :len(s)] = 1
    hidden = teacher_forced_hidden(model, inputs, seq_ids, seq_mask)
    t = inputs["input_ids"].shape[1]
    b_idx = torch.tensor([b for b, _ in wanted], device=hidden.device)
    p_idx = torch.tensor([t + j - 1 for _, j in wanted], device=hidden.device)
    targets = torch.tensor([seqs[b][j] for b, j in wanted])
    logp, ent = _project(model, hidden[b_idx, p_idx], targets, chunk)
    return logp.tolist(), ent.tolist()


def first_guided(rows: Sequence[Sequence[int]], names: Mapping[str, int]) -> list[tuple[int, str, int]]:
    """``(sample, modality, index)`` of each guided token's first occurrence in each (stop-trimmed) row."""
    found = []
    for b, row in enumerate(rows):
        for name, tid in names.items():
            if tid in row:
                found.append((b, name, list(row).index(tid)))
    return found


def guided_sites(rows: Sequence[Sequence[int]], with_stop: Sequence[Sequence[int]],
                 found: Sequence[tuple[int, str, int]], guided: Sequence[int], site: str,
                 tokenizer: Any = None) -> list[list[int]]:
    """Per found guided token, the completion indices of its entropy site (``</think>`` found with ``tokenizer``)."""
    check_site(site)
    out = []
    for b, _, j in found:
        end = None if tokenizer is None else (lambda b=b: tag_start(lambda ids: _decode(tokenizer, ids), rows[b]))
        out.append(site_indices(rows[b], j, set(guided), site, stopped=len(with_stop[b]) > len(rows[b]),
                                think_end=end))
    return out


def _guided_result(n: int, names: Mapping[str, int], found: Sequence[tuple[int, str, int]],
                   sites: Sequence[Sequence[int]], scores: Mapping[tuple[int, int], tuple[float, float]]
                   ) -> list[dict[str, dict[str, float] | None]]:
    """Per sample and modality ``{'entropy', 'prob'}`` from the scored ``(sample, index) -> (logp, entropy)``."""
    result: list[dict[str, dict[str, float] | None]] = [{name: None for name in names} for _ in range(n)]
    for (b, name, j), idx in zip(found, sites):
        h = mean_or_none([scores[(b, i)][1] for i in idx])
        if h is not None:
            result[b][name] = {"entropy": h, "prob": math.exp(scores[(b, j)][0])}
    return result


def _wanted(found: Sequence[tuple[int, str, int]], sites: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Every ``(sample, index)`` the guided statistics need: the guided tokens and their sites, once each."""
    keys = [(b, j) for b, _, j in found] + [(b, i) for (b, _, _), idx in zip(found, sites) for i in idx]
    return list(dict.fromkeys(keys))


def trim_completions(completion_ids: torch.Tensor, stops: set[int]) -> tuple[list[list[int]], list[list[int]]]:
    """Per row, the ids before the first stop, and the same plus the stop token itself when there is one."""
    rows, with_stop = [], []
    for row, n in zip(completion_ids.tolist(), completion_lengths(completion_ids, stops)):
        rows.append(row[:n])
        with_stop.append(row[:n + 1])
    return rows, with_stop


@torch.no_grad()
def guided_stats(model: Any, inputs: Mapping[str, Any], completion_ids: torch.Tensor, guided_ids: Mapping[str, int],
                 stops: set[int] | None = None, chunk: int = 256, site: str = "emitted", tokenizer: Any = None
                 ) -> list[dict[str, dict[str, float] | None]]:
    """Per sample ``{modality: {'entropy': H_m, 'prob': p_m} or None}`` at the first generated guided token.

    ``inputs`` are the left-padded prompt inputs, ``completion_ids`` the generated ids ``(batch, L)``
    (right padded after the stop token, as ``generate`` returns them), ``guided_ids`` maps each modality
    (``'vision'`` or ``'[vision]'``) to its token id; ``stops`` defaults to :func:`stop_ids`. One forward
    pass; see the module docstring for the conventions (raw temperature-1 distribution, first
    occurrence, None when missing). ``site`` is the entropy site; a ``section`` that no later guided
    token closes ends where ``</think>`` begins when ``tokenizer`` is given, else at the completion's end.
    """
    stops = stop_ids(model) if stops is None else stops
    names = {_modality(k): int(v) for k, v in guided_ids.items()}
    rows, with_stop = trim_completions(completion_ids, stops)
    found = first_guided(rows, names)
    sites = guided_sites(rows, with_stop, found, list(names.values()), site, tokenizer)
    wanted = _wanted(found, sites)
    logp, ent = _score(model, inputs, with_stop, wanted, _pad(model, tokenizer), chunk)
    return _guided_result(len(rows), names, found, sites, dict(zip(wanted, zip(logp, ent))))


def _pad(model: Any, tokenizer: Any = None) -> int:
    """A pad id for right padding (masked out, so its value does not matter)."""
    pad = getattr(tokenizer, "pad_token_id", None)
    pad = unwrap_thinker(model).generation_config.pad_token_id if pad is None else pad
    return 0 if pad is None else int(pad)


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _cut_after(tokenizer: Any, ids: list[int], tag: str, hold: int = 0) -> tuple[int, str] | None:
    """Where the first ``tag`` ends: ``(k, rest)`` with ``ids[:k]`` decoding to a prefix of the text through
    the tag, short of at least its last ``hold`` characters, and ``rest`` the remainder of that text."""
    text = _decode(tokenizer, ids)
    pos = text.find(tag)
    if pos < 0:
        return None
    full = text[:pos + len(tag)]
    target = full[:len(full) - hold]
    lo, hi = 1, len(ids)
    while lo < hi:  # smallest k whose decoded prefix contains the tag
        mid = (lo + hi) // 2
        if tag in _decode(tokenizer, ids[:mid]):
            hi = mid
        else:
            lo = mid + 1
    for k in range(lo, -1, -1):  # a token that straddles the cut is dropped and its text re-encoded
        head = _decode(tokenizer, ids[:k])
        if target.startswith(head):
            return k, full[len(head):]
    return 0, full


def answer_slot(tokenizer: Any, completion: Sequence[int]) -> tuple[list[int], str]:
    """The kept completion ids and the text that completes the answer slot after them (see :func:`answer_probs`)."""
    ids = list(completion)
    cut = _cut_after(tokenizer, ids, ANSWER_TAG, hold=1)
    if cut is not None:
        return ids[:cut[0]], cut[1]
    cut = _cut_after(tokenizer, ids, THINK_END)
    if cut is not None:
        return ids[:cut[0]], cut[1] + "\n" + ANSWER_TAG
    text = _decode(tokenizer, ids)
    return ids, ("" if not text or text[-1].isspace() else "\n") + ANSWER_TAG


def _gold_tokens(tokenizer: Any, bridge: str, gold: str) -> tuple[list[int], int]:
    """Joint tokens of ``bridge + gold`` and the index of the first token that covers a gold character."""
    enc = tokenizer(bridge + gold, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    first = next((i for i, (_, end) in enumerate(offsets) if end > len(bridge)), len(ids))
    return ids, first


def answer_slots(tokenizer: Any, rows: Sequence[Sequence[int]], gold_texts: Sequence[str | None]
                 ) -> tuple[list[list[int]], list[int], list[tuple[int, int] | None]]:
    """Per sample, the teacher-forced sequence ``kept + slot``, the kept length, and the gold tokens' span."""
    if len(rows) != len(gold_texts):
        raise ValueError(f"{len(rows)} completions but {len(gold_texts)} gold texts")
    seqs, kept_len, spans = [], [], []
    for row, gold in zip(rows, gold_texts):
        kept, bridge = answer_slot(tokenizer, row)
        kept_len.append(len(kept))
        if gold is None:
            seqs.append(kept)
            spans.append(None)
            continue
        slot, first = _gold_tokens(tokenizer, bridge, gold)
        seqs.append(kept + slot)
        spans.append((len(kept) + first, len(kept) + len(slot)))
    return seqs, kept_len, spans


def _answer_result(spans: Sequence[tuple[int, int] | None], logps: Sequence[float]) -> list[dict[str, float] | None]:
    """p*, its per-token geometric mean, the summed log-probability and the token count, per sample."""
    out: list[dict[str, float] | None] = []
    it = iter(logps)
    for span in spans:
        if span is None:
            out.append(None)
            continue
        lps = [next(it) for _ in range(*span)]
        total = float(sum(lps))
        out.append({"p_star": math.exp(total), "p_star_mean": math.exp(total / len(lps)) if lps else 1.0,
                    "logp": total, "n_tokens": len(lps)})
    return out


@torch.no_grad()
def answer_probs(model: Any, inputs: Mapping[str, Any], completion_ids: torch.Tensor,
                 gold_texts: Sequence[str | None], tokenizer: Any, stops: set[int] | None = None,
                 chunk: int = 256) -> list[dict[str, float] | None]:
    """Per sample ``{'p_star', 'p_star_mean', 'logp', 'n_tokens'}`` for the gold answer in the answer slot, or None.

    The answer slot: the completion (up to its first stop token) is cut right after its first
    ``<answer>`` tag; without one, right after its first ``</think>`` followed by ``"\\n<answer>"`` (the
    separator :func:`emoomni.omnicot.render` writes); without either, the whole completion followed by
    ``<answer>`` (after a newline unless it already ends in white space). Generated ids are kept as
    they are up to the cut, but never through the ``<answer>`` tag's closing ``>``: the token that
    holds it (or any token straddling the cut) is dropped and its text re-encoded with the slot text.
    The gold label's text follows, encoded *jointly* with that slot text (``tokenizer(slot + gold)``),
    so the label is tokenised as it would be in a rendered trace, however the model split the tag;
    its tokens are those covering at least one gold character (a token spanning the tag's ``>`` and
    the label's first letters counts as a label token). The closing ``</answer>`` is not scored.

    ``p_star`` is the product of the gold tokens' probabilities (multi-token labels: the probability of
    the whole label), ``p_star_mean`` their geometric mean, ``logp`` the summed log-probability and
    ``n_tokens`` their count. A gold text of None gives None. Distribution: the raw model one at
    temperature 1 (module docstring). One forward pass for the batch.
    """
    stops = stop_ids(model) if stops is None else stops
    rows, _ = trim_completions(completion_ids, stops)
    seqs, _, spans = answer_slots(tokenizer, rows, gold_texts)
    wanted = [(b, j) for b, span in enumerate(spans) if span is not None for j in range(*span)]
    logp, _ = _score(model, inputs, seqs, wanted, _pad(model, tokenizer), chunk)
    return _answer_result(spans, logp)


@torch.no_grad()
def completion_stats(model: Any, inputs: Mapping[str, Any], completion_ids: torch.Tensor,
                     guided_ids: Mapping[str, int], gold_texts: Sequence[str | None], tokenizer: Any,
                     stops: set[int] | None = None, chunk: int = 256, site: str = "emitted",
                     logits: Sequence[torch.Tensor] | None = None
                     ) -> tuple[list[dict[str, dict[str, float] | None]], list[dict[str, float] | None]]:
    """:func:`guided_stats` and :func:`answer_probs` together, in one forward pass when possible, or none.

    With ``logits``, the raw per-step logits of the ``generate`` call that produced ``completion_ids``
    (``output_logits=True``), every position whose prefix was generated is read off them
    (:func:`read_generation`): each guided token and its site, and the gold answer's first token, whose
    prefix is the trace up to ``<answer`` whatever the model answered. Only what is left (a later token
    of a multi-token label, an answer slot the model did not open) is teacher-forced, in a pass over the
    rows that hold it (:func:`emoomni.model.inputs.select_rows`). Attention is causal,
    so a guided token that lies inside the kept part of the answer-slot sequence (before ``<answer>``, as
    in every valid trace) has the same context there as in the completion: its statistics are read from
    the p* pass. Only when some guided token or entropy-site index lies beyond the cut does a second
    pass over the completions run. Same conventions and results as the two functions (``site`` as in
    :func:`guided_stats`, with the tokenizer given).
    """
    stops = stop_ids(model) if stops is None else stops
    names = {_modality(k): int(v) for k, v in guided_ids.items()}
    rows, with_stop = trim_completions(completion_ids, stops)
    seqs, kept_len, spans = answer_slots(tokenizer, rows, gold_texts)
    found = first_guided(rows, names)
    sites = guided_sites(rows, with_stop, found, list(names.values()), site, tokenizer)
    guided_wanted = _wanted(found, sites)
    answer_wanted = [(b, j) for b, span in enumerate(spans) if span is not None for j in range(*span)]
    g_scores = {} if logits is None else read_generation(logits, completion_ids, with_stop, guided_wanted)
    a_scores = {} if logits is None else read_generation(logits, completion_ids, seqs, answer_wanted)
    g_rest = [w for w in guided_wanted if w not in g_scores]
    a_rest = [w for w in answer_wanted if w not in a_scores]
    pad = _pad(model, tokenizer)
    part = list(range(len(rows))) if logits is None else sorted({b for b, _ in g_rest + a_rest})
    if 0 < len(part) < len(rows):  # only the rows with something left take the pass
        inputs = select_rows(unwrap_thinker(model).config, inputs, part)
    at = {b: k for k, b in enumerate(part)}
    g_sub, a_sub = [(at[b], j) for b, j in g_rest], [(at[b], j) for b, j in a_rest]
    p_seqs, p_with_stop = [seqs[b] for b in part], [with_stop[b] for b in part]
    if all(i < kept_len[b] for b, i in g_rest):
        logp, ent = _score(model, inputs, p_seqs, g_sub + a_sub, pad, chunk)
        n = len(g_rest)
        g_logp, g_ent, a_logp = logp[:n], ent[:n], logp[n:]
    else:
        g_logp, g_ent = _score(model, inputs, p_with_stop, g_sub, pad, chunk)
        a_logp, _ = _score(model, inputs, p_seqs, a_sub, pad, chunk)
    g_scores.update(zip(g_rest, zip(g_logp, g_ent)))
    a_logps = {w: lp for w, (lp, _) in a_scores.items()} | dict(zip(a_rest, a_logp))
    return (_guided_result(len(rows), names, found, sites, g_scores),
            _answer_result(spans, [a_logps[w] for w in answer_wanted]))


def p_star(model: Any, inputs: Mapping[str, Any], completion_ids: torch.Tensor, gold_texts: Sequence[str | None],
           tokenizer: Any, stops: set[int] | None = None) -> list[float | None]:
    """p*: the probability of the gold answer teacher-forced in the answer slot (product over its tokens).

    A thin view of :func:`answer_probs`, which documents the answer-slot and tokenisation conventions.
    """
    return [None if r is None else r["p_star"]
            for r in answer_probs(model, inputs, completion_ids, gold_texts, tokenizer, stops)]
