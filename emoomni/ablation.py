"""Studies that train many models: the alpha ablation (the paper's Figure 5), the seed study of collapse, the R_mod study.

The seed study (:func:`collapse_study`) trains each arm (label-only SFT, OmniCoT SFT, GRPO, DyME-GRPO)
once per seed and keeps, per model, its per-clip outcomes on the evaluation split and on the
reliance clips with one modality removed (:func:`emoomni.evaluate.collapse.outcome`);
:mod:`emoomni.evaluate.seed_study` turns them into intervals, paired differences and verdicts. The R_mod
study (:func:`rmod_study`) does the same for GRPO and DyME-GRPO with H_m read at each entropy site, under
each trace order. The general-ability study (:func:`skills_study`) keeps, per model and seed, which
general-ability items it answers right, for the paper's Figure 6 over seeds.

:func:`sweep` trains (or reuses) one GRPO run per alpha through the same library call notebook 05
makes (:func:`emoomni.stages.grpo_model`) and evaluates each with
:func:`emoomni.stages.evaluation`; :func:`run_notebooks` instead executes
``notebooks/05_dyme_grpo.ipynb`` with papermill once per alpha and keeps each executed notebook.
Both share the stage cache, so a value trained one way is reused by the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from emoomni import stages
from emoomni.evaluate.collapse import outcome
from emoomni.evaluate.omnibench import item_correct
from emoomni.notebooks import NOTEBOOK_DIR, execute


def sweep(params: Any, alphas: Sequence[float] | None = None, benchmark: str = "synthemo") -> pd.DataFrame:
    """One row per alpha: WA (weighted precision), UAR and WAR (accuracy) in percent, valid format, n."""
    rows = []
    for alpha in (params.study.alphas if alphas is None else alphas):
        adapter = stages.grpo_model(params, alpha)
        r = stages.evaluation(adapter, benchmark, params)
        rows.append({"alpha": float(alpha), "WA": 100 * r["weighted_precision"], "UAR": 100 * r["uar"],
                     "WAR": 100 * r["accuracy"], "valid format": 100 * r["valid_format"], "n": r["n"],
                     "adapter": str(adapter)})
    return pd.DataFrame(rows).set_index("alpha")


def run_notebooks(profile: str, alphas: Sequence[float], out_dir: str | Path) -> list[Path]:
    """Execute notebook 05 once per alpha with papermill; returns the executed notebooks' paths."""
    out = []
    for alpha in alphas:
        path, _ = execute(NOTEBOOK_DIR / "05_dyme_grpo.ipynb", profile, Path(out_dir), alpha=float(alpha))
        target = path.with_name(f"05_dyme_grpo_alpha{float(alpha):g}.ipynb")
        path.replace(target)
        out.append(target)
    return out


STUDY_ARMS = ("sft:label", "sft:omnicot", "grpo:0", "grpo")
"""The seed study's arms, as model keys (:func:`emoomni.stages.model_name`): the profile's alpha is DyME-GRPO's."""


def with_seed(params: Any, seed: int) -> Any:
    """``params`` with SFT's and GRPO's seed set (adapter initialisation, data order, sampling); the rest is kept.

    >>> from emoomni import config
    >>> p = with_seed(config.load("smoke"), 7)
    >>> p.sft.settings.seed, p.grpo.settings.seed
    (7, 7)
    """
    return replace(params, sft=replace(params.sft, settings=replace(params.sft.settings, seed=int(seed))),
                   grpo=replace(params.grpo, settings=replace(params.grpo.settings, seed=int(seed))))


def collapse_study(params: Any, keys: Sequence[str] = STUDY_ARMS, seeds: Sequence[int] | None = None
                   ) -> dict[str, list[dict[str, list[float]]]]:
    """Per arm (by book name), one outcome per seed of ``study.seeds``: accuracy, collapse-subset accuracy, reliance.

    Every model is trained (or reused) through :func:`emoomni.stages.model`, evaluated on the profile's
    evaluation split and, for reliance, on its first ``study.reliance_samples`` clips with the frames,
    the sound or the words removed; all of it is cached per model like every other chapter's results.
    The tiny base and the OmniCoT set are shared by all seeds.
    """
    return _over_seeds(params, seeds, _keyed(keys))


def _keyed(keys: Sequence[str]) -> Callable[[Any], Iterable[tuple[str, Any, Any]]]:
    """The arms ``keys`` name, as :func:`_over_seeds` takes them: ``(book name, params, model)`` for one seed's profile."""
    return lambda p: ((stages.model_name(p, k), p, stages.model(p, k)) for k in keys)


def _over_seeds(params: Any, seeds: Sequence[int] | None, arms: Callable[[Any], Iterable[tuple[str, Any, Any]]],
                score: Callable[[Any, str, Any], dict[str, list[float]]] | None = None
                ) -> dict[str, list[dict[str, list[float]]]]:
    """Per arm, one outcome per seed; ``arms(p)`` yields ``(name, params, model)`` for one seed's profile ``p``.

    ``score(p, name, model)`` is one model's outcome; by default :func:`_outcome` on the evaluation split.
    """
    if score is None:
        score = partial(_outcome, samples=stages.eval_samples(params)[0])
    out: dict[str, list[dict[str, list[float]]]] = {}
    for seed in (params.study.seeds if seeds is None else seeds):
        for name, p, model in arms(with_seed(params, seed)):
            out.setdefault(name, []).append(score(p, name, model))
    return out


SKILL_ARMS = ("base", "sft:omnicot", "grpo")
"""The general-ability study's arms: the base, and what OmniCoT SFT and DyME-GRPO (the profile's alpha) keep of it."""


def skills_study(params: Any, keys: Sequence[str] = SKILL_ARMS, seeds: Sequence[int] | None = None
                 ) -> dict[str, list[dict[str, list[float]]]]:
    """Per arm, one outcome per seed of ``study.seeds``: ``accuracy``, 1 or 0 per general-ability item answered.

    Items whose media could not be decoded are left out, as :func:`emoomni.evaluate.omnibench.accuracy_by_task`
    leaves them out; they are the same items for every model. The base is one model for every seed, so
    its outcome repeats and a paired difference from it carries the trained arm's seed spread alone.
    """
    return _over_seeds(params, seeds, _keyed(keys), lambda p, name, model: {"accuracy": [
        float(item_correct(r)) for r in stages.omnibench_answers(p, model) if not r.get("error")]})


def chain_pairs(arms: Sequence[str]) -> list[tuple[str, str]]:
    """Each arm against the one before it, as the seed study compares its training steps.

    >>> chain_pairs(["label", "OmniCoT", "GRPO"])
    [('label', 'OmniCoT'), ('OmniCoT', 'GRPO')]
    """
    return list(zip(arms[:-1], arms[1:]))


def first_pairs(arms: Sequence[str]) -> list[tuple[str, str]]:
    """Each later arm against the first, as the general-ability study compares trained models with the base.

    >>> first_pairs(["base", "SFT", "GRPO"])
    [('base', 'SFT'), ('base', 'GRPO')]
    """
    return [(arms[0], arm) for arm in arms[1:]]


def signatures(params: Any, key: str = "sft:label", seeds: Sequence[int] | None = None) -> list[dict]:
    """The collapse signature (:func:`emoomni.stages.collapse_signature`) of ``key``'s model per seed, ``seed`` added."""
    return [{**stages.collapse_signature(with_seed(params, s), key), "seed": int(s)}
            for s in (params.study.seeds if seeds is None else seeds)]


def _outcome(params: Any, name: str, model: Any, samples: Sequence[Any]) -> dict[str, list[float]]:
    """One model's outcome on the evaluation split's ``samples`` and the reliance clips (cached predictions)."""
    preds = stages.evaluation(model, params.eval.benchmark, params)["predictions"]
    removed = stages.modality_reliance(params, {name: model})[name]
    return outcome(preds, samples, params.synthemo.clip.shortcut, {m: v for m, v in removed.items() if m != "none"})


def rmod_arms(params: Any) -> dict[str, tuple[Any, float | None]]:
    """The R_mod study's arms by name, each ``(params, alpha)`` for :func:`emoomni.stages.grpo_model`.

    Per trace order of ``study.rmod_orders``: GRPO (alpha 0, where the entropy site changes nothing) and
    DyME-GRPO (the profile's alpha) with H_m read at each site of ``study.rmod_sites``.

    >>> from emoomni import config
    >>> list(rmod_arms(config.load("smoke", **{"study.rmod_sites": ["emitted", "section"]})))
    ['GRPO (fixed)', 'DyME emitted (fixed)', 'DyME section (fixed)']
    """
    arms: dict[str, tuple[Any, float | None]] = {}
    for order in params.study.rmod_orders:
        p = replace(params, omnicot=replace(params.omnicot, order=order))
        arms[f"GRPO ({order})"] = (p, 0.0)
        for site in params.study.rmod_sites:
            arms[f"DyME {site} ({order})"] = (replace(p, grpo=replace(p.grpo, settings=replace(
                p.grpo.settings, entropy_site=site))), None)
    return arms


def rmod_pairs(arms: Sequence[str]) -> list[tuple[str, str]]:
    """The comparisons of the R_mod study: each DyME arm against GRPO of the same order.

    >>> rmod_pairs(["GRPO (fixed)", "DyME emitted (fixed)", "GRPO (free)", "DyME section (free)"])
    [('GRPO (fixed)', 'DyME emitted (fixed)'), ('GRPO (free)', 'DyME section (free)')]
    """
    return [(f"GRPO ({arm.rsplit('(', 1)[1]}", arm) for arm in arms if arm.startswith("DyME ")]


def rmod_study(params: Any, seeds: Sequence[int] | None = None) -> dict[str, list[dict[str, list[float]]]]:
    """Per arm of :func:`rmod_arms`, one outcome per seed of ``study.seeds`` (as :func:`collapse_study`'s)."""
    return _over_seeds(params, seeds, lambda p: ((name, q, stages.grpo_model(q, alpha))
                                                 for name, (q, alpha) in rmod_arms(p).items()))
