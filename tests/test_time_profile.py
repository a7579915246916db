"""benchmarks/time_profile.py --runs: the timings a build leaves on disk, grouped per stage and kind of work."""

from __future__ import annotations

import doctest
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "time_profile.py"


@pytest.fixture(scope="module")
def tp():
    spec = importlib.util.spec_from_file_location("time_profile", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def state(runtime: float) -> str:
    return json.dumps({"global_step": 2, "metrics": {"train_runtime": runtime}})


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A hand-made runs/prof with one record of every kind, beside book/executed/timings.json."""
    runs = tmp_path / "runs" / "prof"
    base = runs / "base-synthemo-aa-tiny4-bb" / "pretrain"
    write(base / "encoders" / "model" / "encoders.json", json.dumps({"seconds": 10.0, "probes": {}}))
    write(base / "language" / "train_state.json", state(20.0))
    write(base / "train_state.json", state(30.0))
    write(base / "checkpoint-5" / "train_state.json", state(999.0))  # inside a checkpoint: not a finished run
    grpo = runs / "grpo-alpha0.1-cc"
    write(grpo / "train_state.json", state(50.0))
    write(grpo / "log_history.csv", "loss,dyme/stats_seconds,step\n0.1,1.5,1\n0.2,2.5,2\n,,2\n")
    write(runs / "sft-omnicot-dd" / "train_state.json", state(40.0))
    records = [{"sample_id": "a", "generate_seconds": 1.0, "stats_seconds": 0.25, "seconds": 1.5},
               {"sample_id": "b", "generate_seconds": 2.0, "stats_seconds": 0.5, "seconds": 3.0}]
    lines = "".join(json.dumps(r) + "\n" for r in records) + '{"sample_id": "c", "generate_sec'  # a torn tail
    write(runs / "eval" / "synthemo" / "m" / "predictions.jsonl", lines)
    write(runs / "eval" / "synthemo" / "m" / "metrics.json", json.dumps({"seconds": 77.0}))
    write(runs / "omnicot-x" / "omnicot.jsonl", json.dumps({"sample_id": "a", "seconds": 5.0}) + "\n")
    write(tmp_path / "book" / "executed" / "timings.json",
          json.dumps({"prof": {"00_synthemo.ipynb": 100.0, "03_cold_start_sft.ipynb": 200.0}, "other": {"x": 1.0}}))
    return runs


def test_collect_reads_every_recorded_timing_in_the_books_order(tp, build):
    got = [(r.stage, r.kind, round(r.seconds, 6)) for r in tp.collect(build)]
    assert got == [
        ("base: encoders", "whole phase (faces rendered, towers trained)", 10.0),
        ("base: language", "training steps", 20.0),
        ("base: descriptions", "training steps", 30.0),
        ("SFT", "training steps", 40.0),
        ("GRPO", "training steps (rollouts included)", 46.0),  # the statistics pass taken out
        ("GRPO", "statistics pass", 4.0),
        ("evaluation", "generation", 3.0),
        ("evaluation", "statistics pass", 0.75),
        ("evaluation", "media decoding + preprocessing", 0.75),
    ]


def test_aggregate_and_by_kind_give_seconds_and_shares(tp, build):
    rows = tp.aggregate(tp.collect(build))
    total = 10 + 20 + 30 + 40 + 50 + 4.5
    grpo = [r for r in rows if r.stage == "GRPO"]
    assert [(r.kind, r.seconds) for r in grpo] == [("training steps (rollouts included)", 46.0),
                                                   ("statistics pass", 4.0)]
    assert grpo[1].share_of_stage == pytest.approx(4 / 50) and grpo[1].share_of_total == pytest.approx(4 / total)
    assert sum(r.share_of_total for r in rows) == pytest.approx(1.0)
    kinds = {r.kind: r for r in tp.by_kind(rows)}
    assert kinds["training steps"].seconds == 90.0 and kinds["training steps"].n == 3
    assert kinds["statistics pass"].seconds == pytest.approx(4.75) and kinds["statistics pass"].n == 2
    assert tp.by_kind(rows)[0].kind == "training steps"  # largest first
    assert math.isnan(tp.aggregate([tp.Record("a", "x", 0.0)])[0].share_of_total)


def test_runs_mode_prints_the_table_and_writes_json(tp, build, capsys):
    out_json = build.parent.parent / "profile.json"
    tp.main(["--runs", str(build), "--json", str(out_json)])
    out = capsys.readouterr().out
    assert "base: language" in out and "46.000" in out and "total" in out
    assert "03_cold_start_sft.ipynb" in out and "154.5 s (51.5 %)" in out  # records against the 300 s of notebooks
    data = json.loads(out_json.read_text())
    assert data["mode"] == "runs"
    assert data["notebooks"] == {"00_synthemo.ipynb": 100.0, "03_cold_start_sft.ipynb": 200.0}  # not "other"'s
    assert sum(r["seconds"] for r in data["rows"]) == pytest.approx(154.5)
    assert len(data["records"]) == 9 and data["records"][0]["source"].endswith("encoders.json")


def test_the_scripts_doctests_pass(tp):
    assert doctest.testmod(tp).failed == 0
