"""DyME-GRPO's rewards: format, accuracy and the dynamic modality-entropy reward, as pure functions.

The reward of one completion is ``R = R_fmt * R_acc + alpha * R_mod`` (``alpha = 0.1`` in the paper):

- ``R_fmt`` is 1 iff the completion is a valid OmniCoT trace (:func:`emoomni.omnicot.is_valid`) of the
  run's section order (dataset column ``order``: ``fixed`` or ``free``; ``fixed`` when absent), else 0.
- ``R_acc`` is 1 iff the extracted answer (:func:`emoomni.labels.extract_answer`) equals the gold
  label, else 0; an unreadable answer is wrong, and so is a missing ``<answer>`` span (the evidence
  sentences of a truncated trace are never read as the answer).
- ``R_mod = (1 - p*) * sum_m w_m H_m`` over m in {vision, audio}, where ``H_m`` is the entropy of the
  policy's next-token distribution at the guided token ``[m]``'s entropy site (by default the one that
  generated it; :mod:`emoomni.model.entropy_sites`), ``p_m`` the probability the guided token was
  generated with, ``u_m = p_m / H_m``, ``w_m = u_m / sum_j u_j``, and ``p*`` the policy's probability
  of the gold answer teacher-forced in the answer slot (:func:`emoomni.model.guided_stats.answer_probs`). Algebraically ``sum_m w_m H_m`` is the
  ``p``-weighted harmonic mean of the entropies, ``(p_v + p_a) / (p_v / H_v + p_a / H_a)``, which is how
  it is computed here: it is finite for every input.

Conventions the paper leaves open, decided here and tested:

- **Not a valid trace:** ``R_mod = 0``. Entropy is rewarded only where the guided tokens mean what they
  should; otherwise the policy could earn reward by breaking the format at high entropy.
- **A guided token missing** (vision or audio statistics absent): ``R_mod = 0``. A valid trace always
  has both, so this only arises when the statistics could not be read.
- **H_m = 0** for some m (a one-hot distribution, so ``p_m = 1``): ``u_m`` is infinite, ``w_m = 1`` and
  the others 0 (the limit), and ``R_mod = 0`` (the harmonic mean's limit). Both zero: ``R_mod = 0`` and
  the weights split by ``p``.
- **p* missing** (no gold label): ``R_mod = 0``.

Every reward function here follows TRL's calling convention (``completions`` plus dataset columns as
keyword arguments, one float per completion), so each can be handed to ``trl.GRPOTrainer`` directly or
listed by name (:data:`REWARDS`) in a profile. DyME-GRPO uses two of them, ``format_accuracy`` with
weight 1 and ``modality`` with weight ``alpha``: TRL's weighted sum is then exactly ``R``, and it logs
each component on its own. ``modality`` reads the per-completion statistics the trainer computes
(columns ``guided_stats`` and ``p_star``, :class:`emoomni.train.grpo.DymeGRPOTrainer`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from emoomni.labels import extract_answer, label_set
from emoomni.omnicot import is_valid

MODALITIES = ("vision", "audio")
"""The modalities whose guided tokens enter R_mod."""


def completion_text(completion: Any) -> str:
    """The text of a completion as TRL hands it over: a string, or a list of chat messages.

    >>> completion_text("<answer>sad</answer>")
    '<answer>sad</answer>'
    >>> completion_text([{"role": "assistant", "content": "hi"}])
    'hi'
    """
    if isinstance(completion, str):
        return completion
    parts = []
    for message in completion:
        content = message.get("content", "")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(c.get("text", "") for c in content if c.get("type") == "text")
    return "".join(parts)


def format_score(text: str, order: str = "fixed") -> float:
    """R_fmt: 1.0 iff ``text`` is a valid OmniCoT trace with sections in ``order`` (``fixed`` or ``free``).

    >>> format_score("<think>[vision] a [audio] b [dialogue] c [analysis] d</think><answer>sad</answer>")
    1.0
    >>> format_score("<answer>sad</answer>")
    0.0
    >>> format_score("<think>[audio] b [vision] a [dialogue] c [analysis] d</think><answer>sad</answer>", "free")
    1.0
    """
    return 1.0 if is_valid(text, order) else 0.0


def accuracy_score(text: str, gold: str, labels: str) -> float:
    """R_acc: 1.0 iff the answer extracted from ``text`` with label set ``labels`` is ``gold``.

    >>> accuracy_score("<answer>Sad.</answer>", "sad", "synthemo")
    1.0
    >>> accuracy_score("<answer>sad or angry</answer>", "sad", "synthemo")
    0.0
    >>> accuracy_score("The voice suggests sad.", "sad", "synthemo")
    0.0
    """
    return 1.0 if extract_answer(text, label_set(labels), whole_text=False) == gold else 0.0


def modality_weights(entropy: Mapping[str, float], chosen_prob: Mapping[str, float]) -> dict[str, float]:
    """``w_m = u_m / sum_j u_j`` with ``u_m = p_m / H_m``; a zero entropy takes all the weight (the limit).

    >>> w = modality_weights({"vision": 1.0, "audio": 2.0}, {"vision": 0.5, "audio": 0.5})
    >>> round(w["vision"], 6), round(w["audio"], 6)
    (0.666667, 0.333333)
    >>> modality_weights({"vision": 0.0, "audio": 2.0}, {"vision": 1.0, "audio": 0.5})
    {'vision': 1.0, 'audio': 0.0}
    """
    zero = [m for m in entropy if entropy[m] <= 0.0]
    if zero:
        total = sum(chosen_prob[m] for m in zero)
        return {m: (chosen_prob[m] / total if total > 0 else 1.0 / len(zero)) if m in zero else 0.0 for m in entropy}
    u = {m: chosen_prob[m] / entropy[m] for m in entropy}
    total = sum(u.values())
    if total <= 0.0:
        return {m: 1.0 / len(u) for m in u}
    return {m: v / total for m, v in u.items()}


def modality_entropy_reward(entropy: Mapping[str, float | None], chosen_prob: Mapping[str, float | None],
                            p_star: float | None) -> float:
    """R_mod = (1 - p*) * sum_m w_m H_m over vision and audio; 0 when a statistic is missing (module docstring).

    Hand-computed: H = (1, 2), p = (0.5, 0.5) give u = (0.5, 0.25), w = (2/3, 1/3) and
    sum w H = 2/3 + 2/3 = 4/3; with p* = 0.25, R_mod = 0.75 * 4/3 = 1.

    >>> modality_entropy_reward({"vision": 1.0, "audio": 2.0}, {"vision": 0.5, "audio": 0.5}, 0.25)
    1.0
    >>> modality_entropy_reward({"vision": 0.0, "audio": 2.0}, {"vision": 1.0, "audio": 0.5}, 0.0)
    0.0
    >>> modality_entropy_reward({"vision": 1.0, "audio": None}, {"vision": 0.5, "audio": None}, 0.1)
    0.0
    """
    if p_star is None:
        return 0.0
    h, p = {}, {}
    for m in MODALITIES:
        if entropy.get(m) is None or chosen_prob.get(m) is None:
            return 0.0
        h[m], p[m] = float(entropy[m]), float(chosen_prob[m])
    if any(v <= 0.0 for v in h.values()):
        return 0.0
    denominator = sum(p[m] / h[m] for m in MODALITIES)
    if denominator <= 0.0:
        return 0.0
    harmonic = sum(p.values()) / denominator
    return (1.0 - float(p_star)) * harmonic


def dyme_score(text: str, gold: str, labels: str, entropy: Mapping[str, float | None],
               chosen_prob: Mapping[str, float | None], p_star: float | None, alpha: float,
               order: str = "fixed") -> float:
    """R = R_fmt * R_acc + alpha * R_mod for one completion (R_mod is 0 for an invalid trace).

    >>> trace = "<think>[vision] a [audio] b [dialogue] c [analysis] d</think><answer>sad</answer>"
    >>> h, p = {"vision": 1.0, "audio": 2.0}, {"vision": 0.5, "audio": 0.5}
    >>> dyme_score(trace, "sad", "synthemo", h, p, 0.25, alpha=0.1)
    1.1
    >>> dyme_score("<answer>sad</answer>", "sad", "synthemo", h, p, 0.25, alpha=0.1)
    0.0
    """
    fmt = format_score(text, order)
    modality = modality_entropy_reward(entropy, chosen_prob, p_star) if fmt else 0.0
    return fmt * accuracy_score(text, gold, labels) + alpha * modality


def _stats(item: Mapping[str, Any] | None) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Entropies and chosen-token probabilities from one completion's ``guided_stats`` entry."""
    item = item or {}
    entropy = {m: (item.get(m) or {}).get("entropy") for m in MODALITIES}
    prob = {m: (item.get(m) or {}).get("prob") for m in MODALITIES}
    return entropy, prob


def _orders(order: Sequence[str] | None, n: int) -> list[str]:
    """The section order of each completion (dataset column ``order``; ``fixed`` without it)."""
    return ["fixed"] * n if order is None else list(order)


def format_reward(completions: Sequence[Any], order: Sequence[str] | None = None, **kwargs: Any) -> list[float]:
    """TRL reward function: R_fmt per completion (column ``order``, optional)."""
    return [format_score(completion_text(c), o) for c, o in zip(completions, _orders(order, len(completions)))]


def accuracy_reward(completions: Sequence[Any], gold: Sequence[str], label_set: Sequence[str],
                    **kwargs: Any) -> list[float]:
    """TRL reward function: R_acc per completion (columns ``gold`` and ``label_set``)."""
    return [accuracy_score(completion_text(c), g, ls) for c, g, ls in zip(completions, gold, label_set)]


def format_accuracy_reward(completions: Sequence[Any], gold: Sequence[str], label_set: Sequence[str],
                           order: Sequence[str] | None = None, **kwargs: Any) -> list[float]:
    """TRL reward function: R_fmt * R_acc per completion (column ``order``, optional)."""
    return [format_score(completion_text(c), o) * accuracy_score(completion_text(c), g, ls)
            for c, g, ls, o in zip(completions, gold, label_set, _orders(order, len(completions)))]


def modality_reward(completions: Sequence[Any], guided_stats: Sequence[Mapping[str, Any] | None] | None = None,
                    p_star: Sequence[float | None] | None = None, order: Sequence[str] | None = None,
                    **kwargs: Any) -> list[float]:
    """TRL reward function: R_mod per completion, 0 for an invalid trace (columns ``guided_stats``, ``p_star``)."""
    if guided_stats is None or p_star is None:
        raise ValueError("modality_reward needs the guided_stats and p_star columns; use DymeGRPOTrainer, "
                         "which computes them from the policy")
    out = []
    for c, stats, ps, o in zip(completions, guided_stats, p_star, _orders(order, len(completions))):
        entropy, prob = _stats(stats)
        out.append(modality_entropy_reward(entropy, prob, ps) if format_score(completion_text(c), o) else 0.0)
    return out


REWARDS: dict[str, Callable[..., list[float]]] = {
    "format": format_reward,
    "accuracy": accuracy_reward,
    "format_accuracy": format_accuracy_reward,
    "modality": modality_reward,
}
"""Reward functions by the name a profile lists them under."""


def reward_functions(names: Sequence[str]) -> list[Callable[..., list[float]]]:
    """The reward functions named in a profile, with a clear error for an unknown name.

    >>> [f.__name__ for f in reward_functions(["format_accuracy", "modality"])]
    ['format_accuracy_reward', 'modality_reward']
    """
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ValueError(f"unknown reward(s) {unknown}; known: {sorted(REWARDS)}")
    return [REWARDS[n] for n in names]

