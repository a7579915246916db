"""The book's jobs: they cover what the notebooks ask for, and the pool runs them in order and reports failures."""

from __future__ import annotations

import graphlib
from dataclasses import replace
from pathlib import Path

import pytest

from emoomni import ablation, config, prefetch, stages
from emoomni.config import stage_hash
from emoomni.prefetch import Job


@pytest.fixture()
def recorded(monkeypatch):
    """Every stage call that trains, predicts or measures, stood in for and recorded (by what it computes)."""
    calls: list[tuple] = []

    def sft(p, style=None):
        style = style or p.sft.settings.target_style
        calls.append(("train", f"sft-{style}-{stage_hash(p.sft, p.omnicot)}"))
        return Path(f"/runs/sft-{style}-{stage_hash(p.sft, p.omnicot)}/adapter")

    def grpo(p, alpha=None):
        g = p.grpo.settings if alpha is None else replace(p.grpo.settings, alpha=float(alpha))
        calls.append(("train", f"grpo-{stage_hash(p.sft, p.omnicot, g)}"))
        return Path(f"/runs/grpo-{stage_hash(p.sft, p.omnicot, g)}/adapter")

    def reliance(p, models):
        calls.extend(("rely", str(m)) for m in models.values())
        return {name: {"none": [], "vision": [], "audio": [], "text": []} for name in models}

    monkeypatch.setattr(stages, "base_model", lambda p: "/runs/base")
    monkeypatch.setattr(stages, "sft_model", sft)
    monkeypatch.setattr(stages, "grpo_model", grpo)
    monkeypatch.setattr(stages, "sft_merged", lambda p: calls.append(("merge", str(sft(p, "omnicot")))))
    monkeypatch.setattr(stages, "evaluation", lambda m, bench, p: calls.append(("predict", str(m), bench)) or {
        "predictions": [], "weighted_precision": 0.0, "uar": 0.0, "accuracy": 0.0, "valid_format": 1.0, "n": 0})
    monkeypatch.setattr(stages, "modality_reliance", reliance)
    monkeypatch.setattr(stages, "omnibench_answers", lambda p, m: calls.append(("omnibench", str(m))) or [])
    monkeypatch.setattr(stages, "eval_samples", lambda p: ([], Path("/data")))
    for name in ("base_perception", "tower_probes", "synthemo_separability"):
        monkeypatch.setattr(stages, name, lambda p, name=name: calls.append((name,)))
    monkeypatch.setattr(stages, "reliance_profile", lambda ref, removed: {"accuracy_drop": {}})
    monkeypatch.setattr(stages, "signature", lambda preds, samples, shortcut: {})
    monkeypatch.setattr(stages, "collapsed", lambda sig, drops, shortcut: False)
    monkeypatch.setattr(ablation, "outcome", lambda *a: {"accuracy": []})
    return calls


def notebook_calls(params) -> None:
    """The stage calls of the book's notebooks that train, predict or measure (notebooks 00 and 03 to 08)."""
    stages.synthemo_separability(params)
    stages.sft_model(params)
    stages.named_predictions(params, "base", "sft")
    stages.base_perception(params), stages.tower_probes(params)
    stages.style_scores(params)
    ablation.signatures(params, "sft:label")
    stages.grpo_model(params)
    stages.named_predictions(params, "sft:omnicot", "grpo")
    ablation.sweep(params)
    ablation.rmod_study(params)
    stages.omnibench_runs(params, "base", "grpo")
    ablation.skills_study(params)
    ablation.collapse_study(params)
    stages.named_predictions(params, "sft:omnicot", "grpo", benchmark="synthemo")
    stages.modality_reliance(params, stages.models(params, "base", "sft:omnicot", "grpo"))


@pytest.mark.parametrize("overrides", [{}, {"study.rmod_orders": ["fixed", "free"], "study.seeds": [3, 4]}])
def test_the_jobs_compute_everything_the_notebooks_ask_for_and_nothing_twice(recorded, overrides):
    params = config.load("default", **overrides)
    jobs = prefetch.book_jobs(params)
    assert prefetch.run(jobs, workers=1) == {}
    computed = set(recorded)
    recorded.clear()
    notebook_calls(params)
    missing = set(recorded) - computed
    assert not missing, f"the notebooks would compute {sorted(missing)}"
    sft = [j for j in jobs if j.name.startswith("SFT OmniCoT seed")]
    own = params.sft.settings.seed not in params.study.seeds  # the profile's own seed: notebooks 03, 05 and 07
    assert len(sft) == len(params.study.seeds) * len(params.study.rmod_orders) + own
    grpo = [j for j in jobs if any(s[1].startswith("grpo") for s in j.steps if s[0] == "predict")]
    assert grpo and all(len(j.after) == 1 and j.after[0] in {s.name for s in sft} for j in grpo)
    models = [(stage_hash(j.params.snapshot()), j.steps[0]) for j in jobs]
    assert len(models) == len(set(models)), "two jobs compute one model"


def test_a_failed_job_is_reported_with_its_log_and_the_jobs_after_it_are_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOOMNI_RUNS", str(tmp_path))
    p = config.load("smoke")
    jobs = [Job("nothing to do", p, ()), Job("bad", p, (("predict", "lora", None),)),
            Job("after bad", p, (), after=("bad",))]
    failed = prefetch.run(jobs, workers=2)
    assert set(failed) == {"bad", "after bad"}
    assert failed["bad"].startswith("ValueError: unknown model 'lora'") and failed["after bad"] == "not run: bad failed"
    assert "Traceback" in prefetch.log_path(jobs[1]).read_text()
    with pytest.raises(ValueError, match="not in the list: \\['missing'\\]"):
        prefetch.run([Job("a", p, (), after=("missing",))])
    with pytest.raises(ValueError, match="repeat"):
        prefetch.run([Job("a", p, ()), Job("a", p, ())])
    with pytest.raises(graphlib.CycleError):
        prefetch.run([Job("a", p, (), after=("b",)), Job("b", p, (), after=("a",))])
    assert prefetch.run([Job("bad", p, (("predict", "lora", None),)), Job("after bad", p, (), after=("bad",))],
                        workers=1) == {"bad": "ValueError: unknown model 'lora'; use 'base', 'sft', 'sft:<style>', "
                                              "'grpo' or 'grpo:<alpha>'", "after bad": "not run: bad failed"}


def test_only_lists_the_matching_jobs_with_what_they_wait_for_and_refuses_no_match(capsys):
    assert prefetch.main(["--profile", "smoke", "--only", r"^GRPO \(alpha = 0\) seed 0$", "--list"]) == 0
    listed = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == ["SFT OmniCoT seed 0", "GRPO (alpha = 0) seed 0"]
    with pytest.raises(SystemExit):
        prefetch.main(["--profile", "smoke", "--only", "no such job", "--list"])
