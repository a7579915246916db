"""Profiles: ``params/<profile>.yaml`` -> one frozen dataclass per stage; unknown keys raise."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emoomni.data.synthemo.generate import SynthEmoConfig
from emoomni.model.entropy_sites import ENTROPY_SITES
from emoomni.model.tiny_thinker import VISION
from emoomni.omnicot import ORDERS, STYLES
from emoomni.paths import REPO_ROOT
from emoomni.settings import ConfigError, build, key_dict, when_set
from emoomni.train.grpo import GRPOSettings
from emoomni.train.pretrain import PretrainSettings
from emoomni.train.sft import SFTSettings

PARAMS_DIR = REPO_ROOT / "params"




@dataclass(frozen=True)
class SynthEmoStage:
    """Generating SynthEmo and checking that its cues are in the signal."""

    n_clips: int = 1200
    """Clips in the whole set (all splits)."""
    seed: int = 0
    """Seed that decides every clip."""
    workers: int = 2
    """Parallel worker processes for generation."""
    separability_clips: int = 600
    """Clips analysed by the separability check (the first ones of the set)."""
    clip: SynthEmoConfig = field(default_factory=SynthEmoConfig)
    """Clip sizes, split fractions and condition mixtures."""


@dataclass(frozen=True)
class Backend:
    """A backend chosen by name, with its options (model path, device, batch size, ...)."""

    backend: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OmniCoTStage:
    """Building the OmniCoT SFT set: evidence extraction, verification, records and exports."""

    source: str = "synthemo"
    """``synthemo`` (the profile's generated set) or ``manifest`` (a JSONL manifest of a real data set)."""
    split: str = "train"
    """Which split of the source to build from."""
    manifest: str | None = None
    """For ``source: manifest``: the manifest path (``$VARS`` are expanded)."""
    data_root: str | None = None
    """For ``source: manifest``: the data root its media paths are relative to."""
    label_set: str = "synthemo"
    """The candidate labels (a name in :data:`emoomni.labels.LABEL_SETS`)."""
    max_samples: int | None = None
    """Use at most this many samples of the split (None: all)."""
    batch_size: int = 16
    workers: int = 2
    vision: Backend = field(default_factory=lambda: Backend("signal"))
    audio: Backend = field(default_factory=lambda: Backend("signal", {"baseline_clips": 200}))
    dialogue: Backend = field(default_factory=lambda: Backend("transcript"))
    verifier: Backend = field(default_factory=lambda: Backend("rules", {"min_votes": 2}))
    prompts: dict[str, str] = field(default_factory=dict)
    """Overrides of the prompt templates in :mod:`emoomni.prompts` (keys: system, vision, audio, dialogue, verify)."""
    order: str = when_set("fixed")
    """Section order of the traces (:data:`emoomni.omnicot.ORDERS`): what SFT targets follow, and what the format
    checks of GRPO and evaluation accept. The build itself does not depend on it."""


@dataclass(frozen=True)
class BaseStage:
    """The base model: a tiny thinker given perception by description pre-training, or real weights."""

    model: str = "tiny"
    """``tiny``: build a tiny Qwen2.5-Omni thinker and pre-train it; otherwise a local path or hub id used as is."""
    seed: int = 0
    """Seed of the tiny model's random initialisation."""
    vision_width: int = when_set(VISION["hidden_size"])
    """Width of the tiny thinker's vision tower (:func:`emoomni.model.tiny_thinker.vision_config`)."""
    pretrain: PretrainSettings = field(default_factory=PretrainSettings)
    """Description pre-training of the tiny base (ignored for real weights)."""


@dataclass(frozen=True)
class SFTStage:
    """Cold-start SFT on OmniCoT and the reasoning-style baselines of Table 2."""

    styles: tuple[str, ...] = ("label", "freeform", "omnicot_nogt", "omnicot")
    """Target styles trained by the baselines notebook (all on the same records)."""
    eval_fraction: float = 0.05
    """Share of the OmniCoT records held out for the evaluation loss."""
    settings: SFTSettings = field(default_factory=SFTSettings)
    learning_rates: dict[str, float] = field(default_factory=dict)
    """Learning rate of a target style where it differs from ``settings.learning_rate`` (each chosen on its
    held-out loss), e.g. ``{label: 0.001}``; for that style it wins over ``settings.learning_rate``."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.learning_rates) - set(STYLES))
        if unknown:
            raise ConfigError(f"sft.learning_rates: unknown style(s) {unknown}; choose from {', '.join(STYLES)}")

    def for_style(self, style: str | None = None) -> SFTSettings:
        """The SFT settings of one target style (None: ``settings.target_style``), its own learning rate included.

        >>> stage = SFTStage(learning_rates={"label": 0.001})
        >>> stage.for_style("label").learning_rate, stage.for_style("omnicot").learning_rate == stage.settings.learning_rate
        (0.001, True)
        """
        style = style or self.settings.target_style
        return dataclasses.replace(self.settings, target_style=style,
                                   learning_rate=self.learning_rates.get(style, self.settings.learning_rate))


@dataclass(frozen=True)
class GRPOStage:
    """DyME-GRPO (and vanilla GRPO with alpha 0) on the SFT OmniCoT model."""

    split: str = "train"
    """The split whose clips (with gold labels) are the GRPO prompts."""
    manifest: str | None = None
    """A manifest of other clips to train on (``$VARS`` expanded); None: the OmniCoT stage's source."""
    data_root: str | None = None
    """The data root of ``manifest``."""
    settings: GRPOSettings = field(default_factory=GRPOSettings)


@dataclass(frozen=True)
class EvalStage:
    """Batched prediction with guided-token statistics."""

    benchmark: str = "synthemo"
    """The benchmark the training chapters evaluate on (a name in :mod:`emoomni.evaluate.registry`)."""
    split: str = "test"
    """The SynthEmo split (or manifest split) to evaluate on."""
    max_samples: int | None = None
    batch_size: int = 16
    max_new_tokens: int = 256
    include_transcript: bool = True
    entropy_site: str = when_set("emitted")
    """Where the predictions' H_m is read (:data:`emoomni.model.entropy_sites.ENTROPY_SITES`)."""


@dataclass(frozen=True)
class OmniBenchStage:
    """The general-ability check: OmniBench itself, or the generated SynthBench on the embedded default."""

    source: str = "synthbench"
    """``synthbench`` (generated, offline) or ``omnibench`` (a local copy at ``root``)."""
    root: str | None = None
    """For ``source: omnibench``: the OmniBench root (``$VARS`` expanded)."""
    n: int = 100
    """SynthBench items to generate."""
    seed: int = 0
    mode: str = "generate"
    """``generate`` (a reply parsed for the option letter, the paper's protocol), ``likelihood`` (the likeliest
    letter) or ``option`` (the likeliest option text): :data:`emoomni.evaluate.omnibench.MODES`."""
    batch_size: int = 8
    max_new_tokens: int = 16


@dataclass(frozen=True)
class StudyStage:
    """The results chapter's studies: the alpha ablation, seeds of the key comparison, modality reliance."""

    alphas: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.5)
    """The alpha values of the ablation (the paper's Figure 5)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of SFT and GRPO for the SFT OmniCoT vs DyME-GRPO comparison."""
    benchmarks: tuple[str, ...] = ("synthemo", "ravdess", "meld", "iemocap", "mer2025")
    """Benchmarks of Table 1 (the unavailable ones are listed as such)."""
    reliance_samples: int | None = None
    """Test clips of the counterfactual modality ablation (None: the whole evaluation split)."""
    rmod_sites: tuple[str, ...] = ("emitted",)
    """The R_mod study's entropy sites (:data:`emoomni.model.entropy_sites.ENTROPY_SITES`), DyME-GRPO per site."""
    rmod_orders: tuple[str, ...] = ("fixed",)
    """The R_mod study's trace orders (:data:`emoomni.omnicot.ORDERS`); ``free`` trains its own SFT models."""
    reliance_condition: str | None = None
    """Only clips of this SynthEmo condition enter the ablation (None: every clip). ``agree``, where every
    modality carries the gold emotion, makes a drop mean reliance: on clips where a cue misleads, removing it
    can raise accuracy."""


@dataclass(frozen=True)
class Params:
    """A whole profile."""

    profile: str
    runs: str | None = None
    """The folder under ``runs/`` whose cached stages this profile shares (None: its own name); cache keys
    hash every setting, so only stages with identical settings are shared."""
    synthemo: SynthEmoStage = field(default_factory=SynthEmoStage)
    omnicot: OmniCoTStage = field(default_factory=OmniCoTStage)
    base: BaseStage = field(default_factory=BaseStage)
    sft: SFTStage = field(default_factory=SFTStage)
    grpo: GRPOStage = field(default_factory=GRPOStage)
    eval: EvalStage = field(default_factory=EvalStage)
    omnibench: OmniBenchStage = field(default_factory=OmniBenchStage)
    study: StudyStage = field(default_factory=StudyStage)

    def __post_init__(self) -> None:
        for where, order in (("sft.settings.order", self.sft.settings.order), ("grpo.settings.order", self.grpo.settings.order)):
            if order not in ("fixed", self.omnicot.order):
                raise ConfigError(f"{where} is {order!r} but omnicot.order is {self.omnicot.order!r}; set omnicot.order "
                                  "alone (the stages pass it on)")
        for where, values, known in (("study.rmod_sites", self.study.rmod_sites, ENTROPY_SITES),
                                     ("study.rmod_orders", self.study.rmod_orders, ORDERS)):
            if not values or set(values) - set(known):
                raise ConfigError(f"{where} is {list(values)}; choose one or more of {', '.join(known)}")

    def snapshot(self) -> dict[str, Any]:
        """The resolved profile as plain data."""
        return dataclasses.asdict(self)


def stage_hash(stage: Any, *inputs: Any) -> str:
    """A short hash of a stage's resolved settings and any other inputs it depends on (results are cached under it).

    Fields declared with :func:`emoomni.settings.when_set` count only when set to a non-default value.
    """
    settings = key_dict(stage)
    blob = json.dumps([settings, *map(str, inputs)] if inputs else settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _profile_path(profile: str | Path) -> Path:
    path = Path(profile) if str(profile).endswith((".yaml", ".yml")) else PARAMS_DIR / f"{profile}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PARAMS_DIR.glob("*.yaml")))
        raise ConfigError(f"no profile {profile!r}: {path} does not exist (known profiles: {known})")
    return path


def merged(base: dict, over: dict) -> dict:
    """``over`` laid onto ``base``: mappings merge key by key, anything else replaces.

    >>> merged({"a": {"x": 1, "y": 2}, "b": [1]}, {"a": {"y": 3}, "b": [2]})
    {'a': {'x': 1, 'y': 3}, 'b': [2]}
    """
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _raw(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A profile file as plain data, laid onto the profile it ``extends`` (if any)."""
    if path in seen:
        raise ConfigError(f"{path}: profiles extend each other in a circle ({' -> '.join(map(str, seen))})")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    parent = raw.pop("extends", None)
    return merged(_raw(_profile_path(parent), (*seen, path)), raw) if parent else raw


def load(profile: str | Path, **overrides: Any) -> Params:
    """Load ``params/<profile>.yaml`` (or a path), apply dotted overrides such as ``synthemo.seed=3``.

    An override whose value is None is skipped, so a notebook parameter left at None keeps the
    profile's value:

    >>> load("smoke", **{"synthemo.seed": None, "study.alphas": None}) == load("smoke")
    True
    >>> load("smoke", **{"omnicot.vision.backend": None}).omnicot.vision.backend
    'signal'
    """
    path = _profile_path(profile)
    raw = _raw(path)
    raw.setdefault("profile", path.stem)
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return build(Params, raw, str(path))
