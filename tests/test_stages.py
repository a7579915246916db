"""Stage functions that the later chapters call, on the smoke profile in a temporary runs directory."""

from __future__ import annotations

import pytest

from emoomni import config, stages


def test_the_stage_functions_the_chapters_call_exist():
    for name in ("synthemo_set", "omnicot", "base_model", "sft_model", "sft_merged", "grpo_model", "eval_samples",
                 "predictions", "omnibench_items", "omnibench_answers", "modality_reliance"):
        assert callable(getattr(stages, name)), name


def test_synthbench_items_are_generated_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOOMNI_RUNS", str(tmp_path))
    params = config.load("smoke")
    items, root = stages.omnibench_items(params)
    assert len(items) == params.omnibench.n and root.parent == tmp_path / "smoke"
    stamp = (root / "dataset").stat().st_mtime_ns
    again, _ = stages.omnibench_items(params)
    assert [i.id for i in again] == [i.id for i in items] and (root / "dataset").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="omnibench.root"):
        stages.omnibench_items(config.load("smoke", **{"omnibench.source": "omnibench"}))
