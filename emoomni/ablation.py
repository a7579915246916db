"""The alpha ablation (the paper's Figure 5): DyME-GRPO at each alpha, evaluated on the same benchmark.

:func:`sweep` trains (or reuses) one GRPO run per alpha through the same library call notebook 05
makes (:func:`emoomni.stages.grpo_model`) and evaluates each with
:func:`emoomni.stages.evaluation`; :func:`run_notebooks` instead executes
``notebooks/05_dyme_grpo.ipynb`` with papermill once per alpha and keeps each executed notebook.
Both share the stage cache, so a value trained one way is reused by the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emoomni import config, stages
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


def seed_runs(params: Any, seeds: Sequence[int] | None = None, benchmark: str = "synthemo") -> dict[str, list[dict]]:
    """SFT OmniCoT and DyME-GRPO (the profile's alpha) trained with each seed and evaluated on ``benchmark``.

    The seed sets SFT's and GRPO's (initialisation of the adapters, data order, sampling); the tiny
    base and the OmniCoT set are shared. Returns ``{"SFT OmniCoT": [result per seed], "DyME-GRPO": [...]}``.
    """
    out: dict[str, list[dict]] = {"SFT OmniCoT": [], "DyME-GRPO": []}
    for seed in (params.study.seeds if seeds is None else seeds):
        p = config.load(params.profile, **{"sft.settings.seed": int(seed), "grpo.settings.seed": int(seed),
                                           "grpo.settings.alpha": params.grpo.settings.alpha})
        out["SFT OmniCoT"].append(stages.evaluation(stages.sft_model(p, "omnicot"), benchmark, p))
        out["DyME-GRPO"].append(stages.evaluation(stages.grpo_model(p), benchmark, p))
    return out
