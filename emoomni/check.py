"""Validate a profile without GPUs or weights: keys, types, backends, models and paths, with a list of what is missing."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from emoomni import config
from emoomni.evaluate.registry import REGISTRY
from emoomni.extract.base import backends
from emoomni.extract.verify import _VERIFIERS, make_verifier
from emoomni.labels import LABEL_SETS
from emoomni.train.rewards import REWARDS


@dataclass(frozen=True)
class Problem:
    """One finding: ``error`` stops the profile from running, ``note`` is worth knowing."""

    level: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level:5s} {self.where}: {self.message}"


_UNSET = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def _path(where: str, value: str | None, problems: list[Problem], level: str = "error") -> None:
    if value is None:
        return
    missing = [v for v in _UNSET.findall(value) if v not in os.environ]
    if missing:
        problems.append(Problem(level, where, f"environment variable(s) {', '.join(missing)} not set (in {value!r})"))
        return
    path = Path(os.path.expandvars(value)).expanduser()
    if not path.exists():
        problems.append(Problem(level, where, f"{path} does not exist"))


def _model(where: str, name: str, problems: list[Problem]) -> None:
    """A model is resolvable when it is a local directory with safetensors, or a hub id in the local cache."""
    path = Path(os.path.expandvars(name)).expanduser()
    if path.is_dir():
        if not list(path.glob("*.safetensors")) and not list(path.glob("*.safetensors.index.json")):
            problems.append(Problem("error", where, f"{path} holds no safetensors weights"))
        return
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        problems.append(Problem("error", where, f"{name!r} is neither a local directory nor a hub id"))
        return
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(name, "config.json"), str):
        problems.append(Problem("error", where, f"hub model {name!r} is not in the local Hugging Face cache; "
                                f"download it with `hf download {name}` or set a local path"))


def check(profile: str | Path) -> list[Problem]:
    """Every problem found in a profile; an empty list means it is ready to run."""
    try:
        params = config.load(profile)
    except (config.ConfigError, OSError) as e:
        return [Problem("error", str(profile), str(e))]
    problems: list[Problem] = []

    o = params.omnicot
    if o.label_set not in LABEL_SETS:
        problems.append(Problem("error", "omnicot.label_set", f"unknown label set {o.label_set!r}"))
    if o.source == "manifest":
        _path("omnicot.manifest", o.manifest, problems)
        _path("omnicot.data_root", o.data_root, problems)
    elif o.source != "synthemo":
        problems.append(Problem("error", "omnicot.source", f"unknown source {o.source!r}"))
    for m in ("vision", "audio", "dialogue"):
        b = getattr(o, m)
        if b.backend not in backends(m):
            problems.append(Problem("error", f"omnicot.{m}.backend", f"no {m} backend {b.backend!r}; available: {backends(m)}"))
        if "model" in b.options:
            _model(f"omnicot.{m}.options.model", b.options["model"], problems)
        if b.options.get("device") == "cuda":
            problems.append(Problem("note", f"omnicot.{m}.options.device", "needs a CUDA GPU at run time"))
    try:
        make_verifier("rules")
    except KeyError:
        pass
    if o.verifier.backend not in _VERIFIERS:
        problems.append(Problem("error", "omnicot.verifier.backend", f"no verifier {o.verifier.backend!r}; available: {sorted(_VERIFIERS)}"))
    if "model" in o.verifier.options:
        _model("omnicot.verifier.options.model", o.verifier.options["model"], problems)
    if "api_key_env" in o.verifier.options and o.verifier.options["api_key_env"] not in os.environ:
        problems.append(Problem("note", "omnicot.verifier.options.api_key_env",
                                f"{o.verifier.options['api_key_env']} is not set"))
    if params.base.model != "tiny":
        _model("base.model", params.base.model, problems)
    g = params.grpo
    if g.manifest or g.data_root:
        _path("grpo.manifest", g.manifest, problems)
        _path("grpo.data_root", g.data_root, problems)
    if not 0 <= g.settings.alpha:
        problems.append(Problem("error", "grpo.settings.alpha", f"alpha must be at least 0, got {g.settings.alpha}"))

    for name in g.settings.rewards:
        if name not in REWARDS:
            problems.append(Problem("error", "grpo.settings.rewards", f"unknown reward {name!r}; known: {sorted(REWARDS)}"))
    if params.omnibench.source == "omnibench":
        _path("omnibench.root", params.omnibench.root, problems)
    elif params.omnibench.source != "synthbench":
        problems.append(Problem("error", "omnibench.source", f"unknown source {params.omnibench.source!r}"))

    for name in dict.fromkeys((*params.study.benchmarks, params.eval.benchmark)):
        if name not in REGISTRY:
            problems.append(Problem("error", "study.benchmarks", f"unknown benchmark {name!r}; known: {sorted(REGISTRY)}"))
        elif REGISTRY[name].source == "manifest":
            b = REGISTRY[name]
            # the chapters' benchmark is required; a missing other one is left out of Table 1
            level = "error" if name == params.eval.benchmark else "note"
            _path(f"benchmark {name}: manifest", b.manifest, problems, level)
            _path(f"benchmark {name}: data_root", b.data_root, problems, level)
    total = g.settings.per_device_batch_size * g.settings.gradient_accumulation_steps
    if total % g.settings.num_generations:
        problems.append(Problem("error", "grpo.settings.num_generations",
                                f"{g.settings.num_generations} generations do not divide the {total} completions a "
                                "device makes per step"))
    return problems
