"""The alpha-ablation and seed drivers, with the training and evaluation calls stood in for."""

from types import SimpleNamespace

import pytest

from emoomni import ablation, stages


def test_sweep_trains_and_evaluates_once_per_alpha(monkeypatch):
    trained = []
    monkeypatch.setattr(stages, "grpo_model", lambda params, alpha: trained.append(alpha) or f"/runs/a{alpha}")
    monkeypatch.setattr(stages, "evaluation", lambda model, bench, params: {
        "weighted_precision": 0.5, "uar": float(model[-3:]), "accuracy": 0.3, "valid_format": 1.0, "n": 4})
    params = SimpleNamespace(study=SimpleNamespace(alphas=(0.0, 0.1, 0.2)))
    table = ablation.sweep(params)
    assert trained == [0.0, 0.1, 0.2] and list(table.index) == [0.0, 0.1, 0.2]
    assert table.loc[0.2, "UAR"] == pytest.approx(20.0) and table.loc[0.1, "WAR"] == pytest.approx(30.0)
    assert list(ablation.sweep(params, [0.05]).index) == [0.05]


def test_run_notebooks_executes_notebook_05_per_alpha(monkeypatch, tmp_path):
    calls = []

    def fake_execute(path, profile, out_dir, **parameters):
        calls.append((path.name, profile, parameters))
        out = out_dir / path.name
        out.write_text("{}")
        return out, 0.0

    monkeypatch.setattr(ablation, "execute", fake_execute)
    paths = ablation.run_notebooks("smoke", [0.0, 0.1], tmp_path)
    assert [p.name for p in paths] == ["05_dyme_grpo_alpha0.ipynb", "05_dyme_grpo_alpha0.1.ipynb"]
    assert calls == [("05_dyme_grpo.ipynb", "smoke", {"alpha": 0.0}), ("05_dyme_grpo.ipynb", "smoke", {"alpha": 0.1})]


def test_rmod_study_trains_each_site_and_order_per_seed_and_shares_grpo(monkeypatch):
    from emoomni import config

    trained = []

    def fake_grpo(p, alpha):
        g = p.grpo.settings
        trained.append((g.seed, p.omnicot.order, g.entropy_site, alpha))
        return f"/runs/{g.seed}-{p.omnicot.order}-{g.entropy_site}-{alpha}"

    monkeypatch.setattr(stages, "grpo_model", fake_grpo)
    monkeypatch.setattr(ablation, "_outcome", lambda p, name, model, samples: {"accuracy": [model]})
    monkeypatch.setattr(stages, "eval_samples", lambda p: ([], None))
    params = config.load("smoke", **{"study.rmod_sites": ["emitted", "section"], "study.rmod_orders": ["fixed", "free"],
                                     "study.seeds": [3, 4]})
    out = ablation.rmod_study(params)
    assert list(out) == ["GRPO (fixed)", "DyME emitted (fixed)", "DyME section (fixed)",
                         "GRPO (free)", "DyME emitted (free)", "DyME section (free)"]
    assert len(trained) == 12 and trained[:3] == [(3, "fixed", "emitted", 0.0), (3, "fixed", "emitted", None),
                                                  (3, "fixed", "section", None)]
    assert out["DyME section (free)"] == [{"accuracy": ["/runs/3-free-section-None"]},
                                          {"accuracy": ["/runs/4-free-section-None"]}]
    assert ablation.rmod_pairs(list(out))[-1] == ("GRPO (free)", "DyME section (free)")


def test_signatures_ask_the_signature_of_each_seed(monkeypatch):
    from emoomni import config

    monkeypatch.setattr(stages, "collapse_signature",
                        lambda p, key: {"name": key, "seed_trained": p.sft.settings.seed})
    out = ablation.signatures(config.load("smoke", **{"study.seeds": [2, 5]}))
    assert out == [{"name": "sft:label", "seed_trained": 2, "seed": 2}, {"name": "sft:label", "seed_trained": 5, "seed": 5}]


def test_skills_study_scores_each_seeds_models_on_the_answered_items_and_repeats_the_base(monkeypatch):
    from emoomni import config

    def answers(p, model):
        right = "A" if "grpo" in model else "B"
        return [{"choice": right, "gold": "A"}, {"choice": None, "gold": "B"}, {"choice": "C", "gold": "C"},
                {"choice": None, "gold": "A", "error": "MediaError: broken.wav"}]

    monkeypatch.setattr(stages, "model", lambda p, key: f"/runs/{key}-{p.sft.settings.seed}")
    monkeypatch.setattr(stages, "omnibench_answers", answers)
    out = ablation.skills_study(config.load("smoke", **{"study.seeds": [1, 2]}))
    assert list(out) == ["tiny base", "SFT OmniCoT", "DyME-GRPO (alpha = 0.1)"]
    assert out["tiny base"] == [{"accuracy": [0.0, 0.0, 1.0]}] * 2
    assert out["DyME-GRPO (alpha = 0.1)"] == [{"accuracy": [1.0, 0.0, 1.0]}] * 2
