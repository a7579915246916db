"""Each stage of the book as one cached call: results live under ``runs/<profile>/`` beside their config."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from emoomni import ledger
from emoomni.build import build
from emoomni.config import Params, stage_hash
from emoomni.data import omnibench, synthbench
from emoomni.data.manifest import Sample
from emoomni.data.sources import expand, read_source, select
from emoomni.data.synthemo import generate
from emoomni.data.synthemo.generate import GENERATOR_VERSION, pretrain_equivalent
from emoomni.evaluate.collapse import collapsed, signature
from emoomni.evaluate.modality import ABLATIONS, ablate, reliance_profile
from emoomni.evaluate.omnibench import answer_questions, read_answers
from emoomni.evaluate.predict import predict
from emoomni.evaluate.registry import Benchmark, evaluate, evaluate_all, for_profile, load_model, model_tag, samples_for
from emoomni.evaluate.tower_probe import tower_separability
from emoomni.export import export
from emoomni.extract.base import make_extractor
from emoomni.extract.separability import separability
from emoomni.extract.verify import make_verifier
from emoomni.labels import label_set
from emoomni.model import build_tiny_omni
from emoomni.model.tiny_thinker import TINY_VERSION
from emoomni.paths import profile_runs, shown
from emoomni.records import write_lines
from emoomni.train.grpo import train_grpo
from emoomni.train.pretrain import cue_recognition, pretrain_base
from emoomni.train.sft import merge_sft, train_sft

log = logging.getLogger(__name__)


def synthemo_dir(params: Params) -> Path:
    """Where a profile's SynthEmo set lives: keyed by the hash of everything that decides its content."""
    s = params.synthemo
    key = stage_hash(type(s)(n_clips=s.n_clips, seed=s.seed, clip=s.clip), f"v{GENERATOR_VERSION}")
    return profile_runs(params) / f"synthemo-{key}"


def synthemo_set(params: Params) -> tuple[list[Sample], Path]:
    """Generate (or reuse) the profile's SynthEmo set; returns its samples and data root."""
    s = params.synthemo
    root = synthemo_dir(params)
    ledger.note("SynthEmo", root, reused=(root / "manifest.jsonl").exists())
    samples = generate(root, s.n_clips, s.seed, s.clip, workers=s.workers)
    write_lines([json.dumps(params.snapshot()["synthemo"], indent=1, sort_keys=True, default=str)], root / "params.json")
    return samples, root


def synthemo_separability(params: Params) -> dict:
    """The separability check on the first ``separability_clips`` clips, cached beside the set."""
    samples, root = synthemo_set(params)
    n = min(params.synthemo.separability_clips, len(samples))
    path = root / f"separability-{n}.json"
    ledger.note("separability check", path, reused=path.exists())
    if path.exists():
        return load_separability(path)
    result = separability(samples[:n], root)
    data = {
        "n": result["n"],
        "cv": {k: {"accuracy": v["accuracy"], "per_class": v["per_class"].to_dict()} for k, v in result["cv"].items()},
        "fer": result["fer"].to_dict(),
    }
    path.write_text(json.dumps(data, indent=1))
    return load_separability(path)


def omnicot_inputs(params: Params) -> tuple[list[Sample], Path]:
    """The samples and data root the OmniCoT stage builds from."""
    o = params.omnicot
    samples, root = read_source(o.source, o.manifest, o.data_root, lambda: synthemo_set(params), "omnicot")
    return select(samples, o.split, max_samples=o.max_samples), root


def omnicot_dir(params: Params) -> Path:
    """Where a profile's OmniCoT build lives, keyed by its inputs and settings."""
    o = params.omnicot
    key = stage_hash(type(o)(**{**o.__dict__, "workers": 1, "order": "fixed"}))  # the build ignores the order
    source = synthemo_dir(params).name if o.source == "synthemo" else "manifest"
    return profile_runs(params) / f"omnicot-{source}-{key}"


def omnicot(params: Params):
    """Build (or resume, or reuse) the OmniCoT set: evidence, verdicts, records and exports."""
    o = params.omnicot
    samples, root = omnicot_inputs(params)
    labels = label_set(o.label_set).labels
    prompts = {"prompts": dict(o.prompts)} if o.prompts else {}
    extractors = {m: make_extractor(m, getattr(o, m).backend, **getattr(o, m).options, **prompts)
                  for m in ("vision", "audio", "dialogue")}
    verifier = make_verifier(o.verifier.backend, **o.verifier.options, **prompts)
    out = omnicot_dir(params)
    result = build(samples, root, out, extractors, verifier, labels, o.batch_size, o.workers)
    export(result.records, samples, root, out, labels)
    ledger.note("OmniCoT", out, reused=not any(result.computed.values()))
    write_lines([json.dumps(params.snapshot()["omnicot"], indent=1, sort_keys=True, default=str)], out / "params.json")
    return result, samples, root


def pretrain_params(params: Params) -> Params:
    """The profile whose SynthEmo set the tiny base pre-trains on: the same ``pretrain`` clips, the default shortcut.

    Profiles that differ only in the shortcut or in the other splits' mixtures share one base.
    """
    s = params.synthemo
    return dataclasses.replace(params, synthemo=dataclasses.replace(s, clip=pretrain_equivalent(s.clip)))


def base_model(params: Params) -> str:
    """The base model's path: real weights as configured, or the tiny thinker after description pre-training."""
    b = params.base
    if b.model != "tiny":
        return b.model

    samples, root = synthemo_set(pretrain_params(params))
    init = base_pretrain_dir(params).parent / "init"
    if not (init / "config.json").exists():
        build_tiny_omni(init, seed=b.seed, vision_width=b.vision_width)
    return str(pretrain_base(init, samples, root, init.parent / "pretrain", b.pretrain))


def base_pretrain_dir(params: Params) -> Path:
    """The tiny base's pre-training folder, which :func:`base_model` fills (its key leaves out the skill phase's subfolder)."""
    b = params.base
    key = stage_hash(dataclasses.replace(b, pretrain=b.pretrain.before_skill_phase()))
    data = synthemo_dir(pretrain_params(params)).name
    return profile_runs(params) / f"base-{data}-tiny{TINY_VERSION}-{key}" / "pretrain"


def base_logs(params: Params) -> dict[str, Path]:
    """The training logs (``log_history.csv``) of the tiny base's pre-training phases; none for a real base."""
    if params.base.model != "tiny":
        return {}
    pretrain = base_pretrain_dir(params)
    logs = {}
    if params.base.pretrain.language_samples:
        logs["base language phase"] = pretrain / "language" / "log_history.csv"
    logs["base descriptions"] = pretrain / "log_history.csv"
    if params.base.pretrain.skill_phase_epochs:
        logs["base skill phase"] = pretrain / params.base.pretrain.skill_phase_dir() / "log_history.csv"
    return logs


def _cue_recognition(params: Params, n: int) -> dict:
    """The tiny base's cue recognition on the first ``n`` evaluation clips, cached beside the base model."""
    if params.base.model != "tiny":
        raise ValueError("cue recognition needs SynthEmo's designed cues; it is measured for the tiny base only")
    base = Path(base_model(params))
    samples, root = synthemo_set(pretrain_params(params))  # the base's own set: its result is cached beside it
    chosen = [x for x in samples if x.split == params.eval.split][:n]
    path = base.parent / f"cue-recognition-{params.eval.split}-{len(chosen)}.json"
    ledger.note("base cue recognition", path, reused=path.exists())
    if path.exists():
        return json.loads(path.read_text())
    model, processor = load_model(str(base))
    result = cue_recognition(model, processor, chosen, root)
    write_lines([json.dumps(result, indent=1)], path)
    return result


def base_perception(params: Params, n: int = 120) -> pd.DataFrame:
    """What the tiny base perceives: held-out cue recognition per modality on the first ``n`` clips of the evaluation split.

    See :func:`emoomni.train.pretrain.cue_recognition`; the result is cached beside the base model.
    Real bases have no designed cues to recover, so this is for the tiny base only.
    """
    result = _cue_recognition(params, n)
    return pd.DataFrame({m: {k: v for k, v in r.items() if k != "confusion"} for m, r in result.items()}
                        ).T.rename_axis("modality")


def base_confusions(params: Params, n: int = 120) -> pd.DataFrame:
    """The base's cue-recognition confusion per modality: rows (modality, designed cue), columns the cue it read."""
    frames = {m: pd.DataFrame(r["confusion"]).T.rename_axis(index="designed", columns="read")
              for m, r in _cue_recognition(params, n).items() if "confusion" in r}
    return pd.concat(frames, names=["modality", "designed"])


def tower_probes(params: Params, n: int = 300) -> pd.DataFrame:
    """What the base's towers hold: a linear probe per modality and pooling, fitted on ``n`` pre-training clips.

    Scored on the first ``n`` clips of the evaluation split (:func:`emoomni.evaluate.tower_probe.tower_separability`);
    the result is cached beside the base model. For the tiny base only, as :func:`base_perception`.
    """
    if params.base.model != "tiny":
        raise ValueError("tower probes need SynthEmo's designed cues; they are measured for the tiny base only")
    base = Path(base_model(params))
    samples, root = synthemo_set(pretrain_params(params))
    learn = [x for x in samples if x.split == params.base.pretrain.split][:n]
    test = [x for x in samples if x.split == params.eval.split][:n]
    path = base.parent / f"tower-probes-{len(learn)}-{params.eval.split}-{len(test)}.json"
    ledger.note("base tower probes", path, reused=path.exists())
    if not path.exists():
        model, processor = load_model(str(base))
        s = params.base.pretrain  # the frames the base was taught to read
        write_lines([json.dumps(tower_separability(model, processor, learn, test, root, s.fps, s.frame_size),
                                indent=1)], path)
    return pd.DataFrame(json.loads(path.read_text())).T.rename_axis("modality")


def sft_model(params: Params, style: str | None = None) -> Path:
    """Train (or reuse, or resume) cold-start SFT in one target style; returns the adapter directory."""
    from dataclasses import replace

    result, samples, root = omnicot(params)
    settings = replace(params.sft.for_style(style), order=params.omnicot.order)
    n_eval = max(1, round(params.sft.eval_fraction * len(result.records))) if params.sft.eval_fraction > 0 else 0
    train, held = (result.records[:-n_eval], result.records[-n_eval:]) if n_eval else (result.records, [])
    base = base_model(params)
    key = stage_hash(settings, _relative(base, params))
    out = profile_runs(params) / f"sft-{settings.target_style}-{omnicot_dir(params).name}-{key}"
    return train_sft(base, train, samples, root, label_set(params.omnicot.label_set).labels, out, settings,
                     held or None)


def sft_merged(params: Params) -> Path:
    """The SFT OmniCoT adapter merged into its base: the starting policy (and KL reference) of GRPO."""
    adapter = sft_model(params, "omnicot")
    out = adapter.parent / "merged"
    done = (out / "config.json").exists() and (out / "model.safetensors").exists()
    ledger.note("SFT merge", out, reused=done)
    if done:
        return out
    tmp = out.with_name("merged.tmp")
    merge_sft(adapter, tmp)
    tmp.replace(out)
    return out


def grpo_inputs(params: Params) -> tuple[list[Sample], Path]:
    """All samples and the data root GRPO draws its prompts from (its own manifest, or the OmniCoT source's)."""
    g, o = params.grpo, params.omnicot
    if g.manifest:
        return read_source("manifest", g.manifest, g.data_root, lambda: synthemo_set(params), "grpo")
    return read_source(o.source, o.manifest, o.data_root, lambda: synthemo_set(params), "omnicot")


def grpo_model(params: Params, alpha: float | None = None) -> Path:
    """Train (or reuse, or resume) DyME-GRPO with ``alpha`` (default: the profile's); returns the adapter."""
    from dataclasses import replace

    g = params.grpo
    settings = replace(g.settings, order=params.omnicot.order)
    settings = settings if alpha is None else replace(settings, alpha=float(alpha))
    policy = sft_merged(params)
    samples, root = grpo_inputs(params)
    chosen = [x for x in samples if x.split == g.split]
    out = profile_runs(params) / f"grpo-alpha{settings.alpha:g}-{stage_hash(settings, _relative(policy, params))}"
    return train_grpo(policy, chosen, root, params.omnicot.label_set, out, settings)


def _relative(path: str | Path, params: Params) -> str:
    """A stage output's path relative to the profile's runs directory (a model id or outside path as is)."""
    return shown(path, profile_runs(params))


def eval_samples(params: Params) -> tuple[list[Sample], Path]:
    """The samples the evaluation stage predicts on: the profile's ``eval.benchmark``."""
    return samples_for(for_profile(params.eval.benchmark, params), lambda: synthemo_set(params))


def evaluation(model: str | Path, benchmark: str | Benchmark, params: Params) -> dict:
    """Evaluate ``model`` on a benchmark with the profile's decoding (cached): metrics and predictions."""
    return evaluate(model, benchmark, params, lambda: synthemo_set(params))


def evaluations(models: dict[str, str | Path], names: Sequence[str], params: Params) -> list[dict]:
    """Every model on every available benchmark of ``names`` (one row each; missing benchmarks listed)."""
    return evaluate_all(models, names, params, lambda: synthemo_set(params))


def predictions(params: Params, model: str = "base", style: str | None = None, alpha: float | None = None):
    """Predict the evaluation split with the base model, an SFT adapter (``style``) or a GRPO one (``alpha``).

    The profile's ``eval.benchmark`` with its decoding (:func:`emoomni.evaluate.registry.evaluate`),
    so every chapter shares one cached prediction file per model. Returns the predictions and the
    split's samples.
    """
    if model == "base":
        path = base_model(params)
    elif model == "sft":
        path = sft_model(params, style)
    elif model == "grpo":
        path = grpo_model(params, alpha)
    else:
        raise ValueError(f"unknown model {model!r}; use 'base', 'sft' or 'grpo'")
    samples, _ = eval_samples(params)
    return evaluation(path, params.eval.benchmark, params)["predictions"], samples


def omnibench_items(params: Params) -> tuple[list, Path]:
    """The general-ability items and their root: SynthBench generated under runs/, or a local OmniBench copy."""
    o = params.omnibench
    if o.source == "synthbench":
        root = profile_runs(params) / f"synthbench-n{o.n}-s{o.seed}"
        if (root / "dataset").is_dir():
            items, _ = omnibench.index(root)
            if len(items) == o.n:
                return items, root
        return synthbench.generate(root, o.n, o.seed), root
    if o.source == "omnibench":
        root = expand(o.root, "omnibench.root")
        items, report = omnibench.index(root)
        log.info("OmniBench: %s", report.summary())
        return items, root
    raise ValueError(f"unknown omnibench.source {o.source!r}; use 'synthbench' or 'omnibench'")


def omnibench_answers(params: Params, model: str | Path) -> list[dict]:
    """The model's answers to the general-ability items (cached and resumable per model)."""
    items, root = omnibench_items(params)
    o = params.omnibench
    out = profile_runs(params) / "omnibench" / f"{model_tag(model, params)[-60:]}-{stage_hash(o)}.jsonl"
    answered = {a["sample_id"]: a for a in read_answers(out)} if out.exists() else {}
    if all(i.id in answered for i in items):  # every item cached: the model is not loaded
        return [answered[i.id] for i in items]
    net, processor = load_model(model)
    return answer_questions(net, processor, items, root, out, batch_size=o.batch_size,
                            max_new_tokens=o.max_new_tokens, mode=o.mode)


def modality_reliance(params: Params, models: dict[str, str | Path]) -> dict:
    """Per model: predictions on the evaluation split with nothing, the frames, the audio or the words removed.

    The clips are the first ``study.reliance_samples`` of the split, of condition ``study.reliance_condition``
    when one is set.

    Returns ``{model name: {"none" | "vision" | "audio" | "text": [Prediction, ...]}}``; the ablated
    clips are written once under ``runs/<profile>/ablations-...`` and every prediction is cached.
    """
    samples, root = eval_samples(params)
    n, condition = params.study.reliance_samples, params.study.reliance_condition
    if condition:
        samples = [s for s in samples if s.meta.get("condition") == condition]
        if not samples:
            raise ValueError(f"no clip of the evaluation split has condition {condition!r} "
                             "(study.reliance_condition; null takes every clip)")
    samples = samples[:n] if n else samples
    e = params.eval
    subset = f"{condition}-" if condition else ""
    out_root = profile_runs(params) / f"ablations-{Path(root).name}-{e.split}-{subset}{n or 'all'}"
    sets = {m: ablate(samples, root, out_root, m) for m in ABLATIONS if m != "none"}
    result = {}
    ids = {s.id for s in samples}
    for name, model in models.items():
        # the clips as they are: the evaluation split's cached predictions, not a second run
        clean = evaluation(model, params.eval.benchmark, params)["predictions"]
        result[name] = {"none": [p for p in clean if p.sample_id in ids]}
        net, processor = load_model(model)
        tag = model_tag(model, params)[-60:]
        for m, (chosen, data_root) in sets.items():
            path = out_root / "predictions" / f"{tag}-{m}-{stage_hash(e)}.jsonl"
            result[name][m] = predict(net, processor, chosen, data_root, label_set(params.omnicot.label_set), path,
                                      batch_size=e.batch_size, max_new_tokens=e.max_new_tokens,
                                      include_transcript=e.include_transcript, entropy_site=e.entropy_site,
                                      order=params.omnicot.order)
    return result


def load_separability(path: Path) -> dict:
    """Read a stored separability result back, with its tables as frames."""
    data = json.loads(Path(path).read_text())
    for v in data["cv"].values():
        v["per_class"] = pd.DataFrame(v["per_class"]).fillna(0).astype(int)
    data["fer"] = pd.DataFrame(data["fer"]).fillna(0).astype(int)
    return data


# Named results: what a chapter shows, asked for by name (never by path or position).

STYLE_NAMES = {"label": "SFT label only", "freeform": "SFT free-form",
               "omnicot_nogt": "SFT OmniCoT without guided tokens", "omnicot": "SFT OmniCoT"}
"""The book's names of the SFT models per target style."""


def model_key(params: Params, key: str) -> tuple[str, str | float | None]:
    """``base``, ``sft[:style]`` or ``grpo[:alpha]`` resolved against the profile: the kind and its style or alpha.

    >>> from emoomni import config
    >>> p = config.load("smoke")
    >>> model_key(p, "sft"), model_key(p, "grpo:0"), model_key(p, "grpo")
    (('sft', 'omnicot'), ('grpo', 0.0), ('grpo', 0.1))
    """
    kind, _, arg = key.partition(":")
    if kind == "base" and not arg:
        return kind, None
    if kind == "sft":
        return kind, arg or params.sft.settings.target_style
    if kind == "grpo":
        return kind, float(arg) if arg else float(params.grpo.settings.alpha)
    raise ValueError(f"unknown model {key!r}; use 'base', 'sft', 'sft:<style>', 'grpo' or 'grpo:<alpha>'")


def model_name(params: Params, key: str) -> str:
    """The name the book gives the model a key names: ``base``, ``sft[:<style>]`` or ``grpo[:<alpha>]``.

    ``sft`` and ``grpo`` without a style or alpha mean the profile's (a notebook's parameters override them).

    >>> from emoomni import config
    >>> p = config.load("smoke")
    >>> [model_name(p, k) for k in ("base", "sft:label", "sft", "grpo:0", "grpo")]
    ['tiny base', 'SFT label only', 'SFT OmniCoT', 'GRPO (alpha = 0)', 'DyME-GRPO (alpha = 0.1)']
    """
    kind, arg = model_key(params, key)
    if kind == "base":
        return "tiny base" if params.base.model == "tiny" else "base"
    if kind == "sft":
        return STYLE_NAMES.get(str(arg), f"SFT {arg}")
    return "GRPO (alpha = 0)" if arg == 0 else f"DyME-GRPO (alpha = {arg:g})"


def model(params: Params, key: str) -> str | Path:
    """Train (or reuse) the model a key names and return it (a base path or hub id, or an adapter directory)."""
    kind, arg = model_key(params, key)
    if kind == "base":
        return base_model(params)
    return sft_model(params, str(arg)) if kind == "sft" else grpo_model(params, arg)


def models(params: Params, *keys: str) -> dict[str, str | Path]:
    """The models the keys name, by their book name, in the order given (see :func:`model_name`)."""
    return {model_name(params, k): model(params, k) for k in keys}


def named_predictions(params: Params, *keys: str, benchmark: str | None = None
                      ) -> tuple[dict[str, list], list[Sample]]:
    """Per named model its predictions on ``benchmark`` (None: the profile's ``eval.benchmark``), and the samples.

    The same cached prediction files as :func:`predictions` (and every other chapter's evaluations).
    """
    bench = benchmark or params.eval.benchmark
    runs = {model_name(params, k): evaluation(model(params, k), bench, params)["predictions"] for k in keys}
    samples, _ = eval_samples(params)
    return runs, samples


def training_logs(params: Params, style: str | None = None) -> dict[str, Path]:
    """The logs (``log_history.csv``) of the base's pre-training phases and of SFT in ``style``."""
    style = style or params.sft.settings.target_style
    sft = sft_model(params, style).parent / "log_history.csv"
    return {**base_logs(params), model_name(params, f"sft:{style}"): sft}


def grpo_log(params: Params, alpha: float | None = None) -> Path:
    """The log (``log_history.csv``) of the GRPO run with ``alpha`` (None: the profile's)."""
    return grpo_model(params, alpha).parent / "log_history.csv"


def grpo_logs(params: Params, alphas: Sequence[float] | None = None) -> dict[str, Path]:
    """The logs of the GRPO runs with each of ``alphas`` (None: the profile's alpha alone), by model name."""
    chosen = [params.grpo.settings.alpha] if alphas is None else alphas
    return {model_name(params, f"grpo:{float(a)!r}"): grpo_log(params, a) for a in chosen}


def style_scores(params: Params, benchmark: str = "synthemo") -> dict[str, dict]:
    """Per reasoning style of ``sft.styles``: the SFT model's metrics on ``benchmark`` (Table 2's rows)."""
    return {style: evaluation(sft_model(params, style), benchmark, params) for style in params.sft.styles}


def omnibench_runs(params: Params, *keys: str) -> dict[str, list[dict]]:
    """Per named model (see :func:`model_name`) its answers to the general-ability items."""
    return {model_name(params, k): omnibench_answers(params, model(params, k)) for k in keys}


def collapse_signature(params: Params, key: str = "sft:label") -> dict:
    """The collapse signature of the model ``key`` names on the evaluation split (:mod:`emoomni.evaluate.collapse`).

    Returns ``{"name", "signature"}`` (accuracy per subset and how often a dissenting shortcut is
    followed), ``"drops"`` (accuracy points lost with each modality removed, on the reliance clips) and
    ``"collapsed"`` (whether both halves of the signature are there).
    """
    shortcut = params.synthemo.clip.shortcut
    named = models(params, key)
    (name, path), = named.items()
    samples, _ = eval_samples(params)
    removed = modality_reliance(params, named)[name]
    reference = removed.pop("none")
    drops = {m: 100 * float(v) for m, v in reliance_profile(reference, removed)["accuracy_drop"].items()}
    sig = signature(evaluation(path, params.eval.benchmark, params)["predictions"], samples, shortcut)
    return {"name": name, "shortcut": shortcut, "signature": sig, "drops": drops,
            "collapsed": collapsed(sig, drops, shortcut)}
