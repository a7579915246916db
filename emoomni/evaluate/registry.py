"""The benchmark registry: each benchmark a declarative, versioned spec, and a cached ``evaluate``.

A :class:`Benchmark` names where its samples come from (the profile's SynthEmo set, or a manifest
made by one of the :mod:`emoomni.data` adapters, with ``$VARS`` for local data roots), which split and
condition subset it keeps, its label set, the decoding settings and the metrics it reports.
:func:`evaluate` predicts a model on it (:func:`emoomni.evaluate.predict.predict`), with the profile's
decoding settings when it is named (:func:`for_profile`), and writes the
predictions and a ``metrics.json`` under ``runs/<profile>/eval/<benchmark>/<model>-<hash>/``; the hash
covers the spec (its version included) and the model, so a finished evaluation is reused and a
killed one resumes. A SynthEmo condition subset reuses the predictions of the whole test split.

The real benchmarks are available when their manifest exists: index a local copy with
``emoomni data index <dataset> ROOT --out $EMOOMNI_DATA/manifests/<dataset>.jsonl`` and set the
data root variable named in the spec.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoomni import ledger
from emoomni.data.sources import SampleSet, expand, read_source, select
from emoomni.evaluate.predict import predict, read_predictions, write_predictions
from emoomni.labels import label_set
from emoomni.metrics import emotion_metrics
from emoomni.model import load_omni
from emoomni.paths import profile_runs, shown
from emoomni.records import write_lines
from emoomni.settings import key_dict, when_set
from emoomni.train.sft import load_sft

METRICS = ("accuracy", "uar", "weighted_precision", "weighted_f1", "macro_f1", "unknown_rate")
"""What every benchmark reports (names of :func:`emoomni.metrics.emotion_metrics`)."""

CONDITIONS = ("agree", "poker_face", "flat_voice", "neutral_words", "conflict")


@dataclass(frozen=True)
class Benchmark:
    """One evaluation: samples, labels, prompt settings, decoding and metrics."""

    name: str
    version: int
    source: str
    """``synthemo`` (the profile's set) or ``manifest``."""
    label_set: str
    split: str | None = "test"
    """Keep samples of this split (None: all)."""
    condition: str | None = None
    """Keep SynthEmo samples of this condition (None: all)."""
    manifest: str | None = None
    data_root: str | None = None
    max_samples: int | None = None
    batch_size: int = 16
    max_new_tokens: int = 256
    include_transcript: bool = True
    metrics: tuple[str, ...] = METRICS
    entropy_site: str = when_set("emitted")
    """Where the predictions' H_m is read (:data:`emoomni.model.entropy_sites.ENTROPY_SITES`)."""
    order: str = when_set("fixed")
    """The section order the format check accepts (:data:`emoomni.omnicot.ORDERS`)."""

    def key(self) -> str:
        """A short hash of the whole spec.

        >>> REGISTRY["synthemo"].key() == REGISTRY["synthemo"].key()
        True
        """
        import hashlib

        blob = json.dumps(key_dict(self), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def _real(name: str, label_set: str, root_var: str, split: str | None) -> Benchmark:
    """A real benchmark read from ``$EMOOMNI_DATA/manifests/<name>.jsonl`` under ``$<root_var>``."""
    return Benchmark(name=name, version=1, source="manifest", label_set=label_set, split=split,
                     manifest=f"${{EMOOMNI_DATA}}/manifests/{name}.jsonl", data_root=f"${{{root_var}}}")


REGISTRY: dict[str, Benchmark] = {
    "synthemo": Benchmark("synthemo", 1, "synthemo", "synthemo"),
    **{f"synthemo:{c}": Benchmark(f"synthemo:{c}", 1, "synthemo", "synthemo", condition=c) for c in CONDITIONS},
    "ravdess": _real("ravdess", "ravdess", "RAVDESS_ROOT", None),
    "meld": _real("meld", "meld", "MELD_ROOT", "test"),
    "iemocap": _real("iemocap", "iemocap_paper", "IEMOCAP_ROOT", None),
    "mer2025": _real("mer2025", "mer2025", "MER2025_ROOT", "test"),
}
"""Every benchmark by name: the SynthEmo test split, its condition subsets, and the paper's four."""


def get(name: str) -> Benchmark:
    """A registered benchmark, with a clear error for an unknown name.

    >>> get("synthemo:conflict").condition
    'conflict'
    """
    if name not in REGISTRY:
        raise KeyError(f"unknown benchmark {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


def for_profile(name: str, params: Any) -> Benchmark:
    """A registered benchmark with the profile's decoding (``eval``: batch size, new tokens, transcript, cap).

    Every caller of the same profile thus shares one prediction cache per model and benchmark; for
    SynthEmo the profile's ``eval.split`` applies too.
    """
    bench = get(name)
    e = getattr(params, "eval", None)
    if e is None:
        return bench
    changes = {"batch_size": e.batch_size, "max_new_tokens": e.max_new_tokens,
               "include_transcript": e.include_transcript, "max_samples": e.max_samples or bench.max_samples,
               "entropy_site": e.entropy_site, "order": params.omnicot.order}
    if bench.source == "synthemo":
        changes["split"] = e.split
    return dataclasses.replace(bench, **changes)


def available(bench: Benchmark) -> bool:
    """True when the benchmark's samples can be read on this machine (SynthEmo always can)."""
    if bench.source == "synthemo":
        return True
    try:
        return expand(bench.manifest, "manifest").is_file() and expand(bench.data_root, "data_root").is_dir()
    except (FileNotFoundError, ValueError):
        return False


def samples_for(bench: Benchmark, synthemo: Callable[[], SampleSet]) -> SampleSet:
    """The benchmark's samples (split, condition and cap applied) and their data root.

    ``synthemo`` loads the profile's SynthEmo set (the stage layer hands it down).
    """
    samples, root = read_source(bench.source, bench.manifest, bench.data_root, synthemo, f"benchmark {bench.name}")
    return select(samples, bench.split, bench.condition, bench.max_samples), root


def load_model(path: str | Path) -> tuple[Any, Any]:
    """A model for evaluation: an adapter directory (base + adapter) or a full thinker."""
    return load_sft(path) if (Path(path) / "adapter_config.json").exists() else load_omni(path)


def model_tag(model: str | Path, params: Any) -> str:
    """A readable, stable name for a model: its run directory relative to the profile's runs, or its id."""
    return shown(model, profile_runs(params)).replace("/", "_")


def evaluate(model: str | Path, bench: Benchmark | str, params: Any, synthemo: Callable[[], SampleSet]) -> dict[str, Any]:
    """Predict ``model`` on ``bench`` (cached by spec and model) and return its metrics and predictions.

    ``synthemo`` loads the profile's SynthEmo set when the benchmark reads it (see :func:`samples_for`).
    """
    import hashlib

    bench = for_profile(bench, params) if isinstance(bench, str) else bench
    tag = model_tag(model, params)
    key = hashlib.sha256(f"{bench.key()}|{tag}".encode()).hexdigest()[:10]
    out = profile_runs(params) / "eval" / bench.name.replace(":", "-") / f"{tag[-60:]}-{key}"
    metrics_path = out / "metrics.json"
    ledger.note(f"evaluation {bench.name}", out, reused=metrics_path.exists())
    if metrics_path.exists():
        preds = read_predictions(out / "predictions.jsonl")
    elif bench.condition is not None:
        whole = dataclasses.replace(bench, name=bench.name.split(":")[0], condition=None)
        ids = {s.id for s in samples_for(bench, synthemo)[0]}
        preds = [p for p in evaluate(model, whole, params, synthemo)["predictions"] if p.sample_id in ids]
    else:
        samples, root = samples_for(bench, synthemo)
        net, processor = load_model(model)
        preds = predict(net, processor, samples, root, label_set(bench.label_set), out / "predictions.jsonl",
                        batch_size=bench.batch_size, max_new_tokens=bench.max_new_tokens,
                        include_transcript=bench.include_transcript, entropy_site=bench.entropy_site,
                        order=bench.order)
    labels = label_set(bench.label_set).labels
    scores = emotion_metrics([p.gold for p in preds], [p.answer for p in preds], labels)
    result = {"benchmark": bench.name, "model": tag, "n": len(preds),
              "valid_format": sum(p.valid_format for p in preds) / len(preds) if preds else float("nan"),
              **{m: scores[m] for m in bench.metrics}}
    if not metrics_path.exists():
        out.mkdir(parents=True, exist_ok=True)
        if bench.condition is not None:

            write_predictions(preds, out / "predictions.jsonl")
        write_lines([json.dumps({**result, "spec": dataclasses.asdict(bench)}, indent=1)], metrics_path)
    return {**result, "predictions": preds, "dir": out}


def evaluate_all(models: dict[str, str | Path], names: Sequence[str], params: Any,
                 synthemo: Callable[[], SampleSet]) -> list[dict[str, Any]]:
    """Evaluate every model on every available benchmark of ``names``; unavailable ones are listed, not run."""
    rows = []
    for bench_name in names:
        bench = for_profile(bench_name, params)
        if not available(bench):
            rows.append({"benchmark": bench_name, "model": None, "available": False})
            continue
        for label, model in models.items():
            r = evaluate(model, bench, params, synthemo)
            rows.append({"benchmark": bench_name, "model": label, "available": True,
                         **{k: v for k, v in r.items() if k not in ("predictions", "dir", "model", "benchmark")}})
    return rows
