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


def test_named_results_ask_the_stages_by_key_and_name_each_model(monkeypatch, tmp_path):
    params = config.load("smoke")
    trained = []
    monkeypatch.setattr(stages, "base_model", lambda p: "base-path")
    monkeypatch.setattr(stages, "sft_model",
                        lambda p, style=None: trained.append(("sft", style)) or tmp_path / style / "adapter")
    monkeypatch.setattr(stages, "grpo_model",
                        lambda p, alpha=None: trained.append(("grpo", alpha)) or tmp_path / f"grpo{alpha}" / "adapter")
    models = stages.models(params, "base", "sft:label", "sft", "grpo:0", "grpo")
    assert list(models) == ["tiny base", "SFT label only", "SFT OmniCoT", "GRPO (alpha = 0)", "DyME-GRPO (alpha = 0.1)"]
    assert trained == [("sft", "label"), ("sft", "omnicot"), ("grpo", 0.0), ("grpo", 0.1)]
    assert models["GRPO (alpha = 0)"] == tmp_path / "grpo0.0" / "adapter"
    logs = stages.grpo_logs(config.load("smoke", **{"study.alphas": [0.0, 0.3]}), [0.0, 0.3])
    assert logs == {"GRPO (alpha = 0)": tmp_path / "grpo0.0" / "log_history.csv",
                    "DyME-GRPO (alpha = 0.3)": tmp_path / "grpo0.3" / "log_history.csv"}
    assert list(stages.grpo_logs(config.load("smoke", **{"grpo.settings.alpha": 0.2}))) == ["DyME-GRPO (alpha = 0.2)"]
    assert stages.model_name(config.load("smoke", **{"sft.settings.target_style": "freeform"}), "sft") == "SFT free-form"
    with pytest.raises(ValueError, match="unknown model 'lora'"):
        stages.models(params, "lora")
