"""The benchmark registry and the cached evaluate: specs, availability, subsets, reuse."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from emoomni import ledger
from emoomni.data.manifest import write_manifest
from emoomni.data.synthemo import generate
from emoomni.evaluate import registry as benchmarks
from emoomni.evaluate.registry import REGISTRY, Benchmark, available, evaluate, evaluate_all, get

pytestmark = pytest.mark.usefixtures("one_thread")


def test_registry_holds_the_papers_benchmarks_and_the_synthemo_subsets():
    assert {"ravdess", "meld", "iemocap", "mer2025", "synthemo"} <= set(REGISTRY)
    assert {b.condition for b in REGISTRY.values() if b.name.startswith("synthemo:")} == set(benchmarks.CONDITIONS)
    assert get("iemocap").label_set == "iemocap_paper" and get("meld").split == "test"
    with pytest.raises(KeyError, match="unknown benchmark"):
        get("omnibench-emotion")
    assert get("synthemo").key() != dataclasses.replace(get("synthemo"), version=2).key()


def test_a_real_benchmark_is_available_only_with_its_manifest_and_root(tmp_path, monkeypatch):
    monkeypatch.delenv("RAVDESS_ROOT", raising=False)
    assert not available(get("ravdess"))
    monkeypatch.setenv("EMOOMNI_DATA", str(tmp_path))
    monkeypatch.setenv("RAVDESS_ROOT", str(tmp_path))
    assert not available(get("ravdess"))
    write_manifest([], tmp_path / "manifests" / "ravdess.jsonl")
    assert available(get("ravdess"))
    assert evaluate_all({"m": "x"}, ["meld"], SimpleNamespace(profile="t", runs=None), synthemo=None)[0]["available"] is False


def test_evaluate_predicts_once_and_subsets_reuse_the_whole_split(tiny, tmp_path, monkeypatch):
    root = tmp_path / "data"
    samples = [s for s in generate(root, 6, seed=0) if s.label]  # pre-training clips may have none
    samples = [dataclasses.replace(s, split="test") for s in samples]
    write_manifest(samples, tmp_path / "manifests" / "toy.jsonl")
    monkeypatch.setenv("EMOOMNI_DATA", str(tmp_path))
    monkeypatch.setenv("TOY_ROOT", str(root))
    monkeypatch.setenv("EMOOMNI_RUNS", str(tmp_path / "runs"))
    toy = Benchmark("toy", 1, "manifest", "synthemo", manifest="${EMOOMNI_DATA}/manifests/toy.jsonl",
                    data_root="${TOY_ROOT}", max_new_tokens=8, batch_size=4)
    params = SimpleNamespace(profile="t", runs=None)
    ledger.clear()
    first = evaluate(tiny, toy, params, synthemo=None)
    assert first["n"] == len(samples) and set(first) >= {"accuracy", "uar", "weighted_precision", "unknown_rate"}
    stamp = (first["dir"] / "predictions.jsonl").stat().st_mtime_ns
    again = evaluate(tiny, toy, params, synthemo=None)
    assert (again["dir"] / "predictions.jsonl").stat().st_mtime_ns == stamp and again["accuracy"] == first["accuracy"]
    cond = samples[0].meta["condition"]
    sub = dataclasses.replace(toy, name=f"toy:{cond}", condition=cond)
    part = evaluate(tiny, sub, params, synthemo=None)
    assert part["n"] == sum(s.meta["condition"] == cond for s in samples)
    assert (first["dir"] / "predictions.jsonl").stat().st_mtime_ns == stamp  # reused, not re-predicted
    assert [(e.stage, e.outcome) for e in ledger.entries()] == [
        ("evaluation toy", "computed"), (f"evaluation toy:{cond}", "computed")]  # the subset's own metrics
    ledger.clear()
    evaluate(tiny, toy, params, synthemo=None)
    assert [e.outcome for e in ledger.entries()] == ["reused"]
