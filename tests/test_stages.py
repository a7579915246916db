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


def test_general_ability_answers_load_the_model_only_while_an_item_is_unanswered(tmp_path, monkeypatch):
    from emoomni.evaluate.omnibench import BenchAnswer

    monkeypatch.setenv("EMOOMNI_RUNS", str(tmp_path))
    params = config.load("smoke")
    items, _ = stages.omnibench_items(params)
    loads = []

    def answer(net, processor, samples, root, out, **kw):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(BenchAnswer(s.id, s.task_type, "A", "A", "A", True).to_json() + "\n" for s in samples[:-1]))
        return []

    monkeypatch.setattr(stages, "load_model", lambda m: loads.append(m) or (None, None))
    monkeypatch.setattr(stages, "answer_questions", answer)
    stages.omnibench_answers(params, "/models/m")  # one item left unanswered
    stages.omnibench_answers(params, "/models/m")
    assert len(loads) == 2
    monkeypatch.setattr(stages, "answer_questions", lambda net, processor, samples, root, out, **kw: out.write_text(
        "".join(BenchAnswer(s.id, s.task_type, "A", "A", "A", True).to_json() + "\n" for s in samples)))
    stages.omnibench_answers(params, "/models/m")
    cached = stages.omnibench_answers(params, "/models/m")
    assert len(loads) == 3 and [a["sample_id"] for a in cached] == [i.id for i in items]


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


def test_profiles_that_differ_only_in_the_shortcut_share_one_tiny_base(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOOMNI_RUNS", str(tmp_path))
    bases = []
    monkeypatch.setattr(stages, "synthemo_set", lambda p: ([], stages.synthemo_dir(p)))
    monkeypatch.setattr(stages, "build_tiny_omni", lambda out, seed, vision_width: None)
    monkeypatch.setattr(stages, "pretrain_base", lambda init, samples, root, out, s: bases.append((root, out)) or out)
    for shortcut in ("vision", "text"):
        stages.base_model(config.load("smoke", **{"synthemo.clip.shortcut": shortcut}))
    stages.base_model(config.load("smoke", **{"synthemo.clip.split_fractions": {"pretrain": 0.5, "test": 0.5}}))
    assert bases[0] == bases[1] and bases[2][1] != bases[0][1]
    assert bases[0][0] == stages.synthemo_dir(config.load("smoke"))


def test_reliance_is_measured_on_the_chosen_condition_only(tmp_path, monkeypatch):
    from emoomni.data.manifest import Sample

    monkeypatch.setenv("EMOOMNI_RUNS", str(tmp_path))
    clips = [Sample(f"c{i}", "synthemo", "test", label="sad", meta={"condition": c})
             for i, c in enumerate(["conflict", "agree", "poker_face", "agree"])]
    monkeypatch.setattr(stages, "eval_samples", lambda p: (clips, tmp_path / "set"))
    chosen = []
    monkeypatch.setattr(stages, "ablate", lambda samples, root, out, m: chosen.append([s.id for s in samples]) or ([], root))
    params = config.load("smoke", **{"study.reliance_samples": None})
    assert stages.modality_reliance(params, {}) == {} and chosen[0] == ["c1", "c3"]
    with pytest.raises(ValueError, match="no clip of the evaluation split has condition 'flat_voice'"):
        stages.modality_reliance(config.load("smoke", **{"study.reliance_condition": "flat_voice"}), {})
