"""The ``emoomni`` command: every subcommand has help, and ``predict`` prints a trace for one clip."""

from __future__ import annotations

import pytest

from emoomni.cli import main, parser
from emoomni.data.synthemo import generate

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("command", ["check", "data synthemo", "data index", "omnicot build", "sft", "grpo", "eval",
                                     "ablation", "study", "predict"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command.split(), "--help"])
    assert exit_.value.code == 0 and "usage: emoomni" in capsys.readouterr().out


def test_model_options_parse():
    args = parser().parse_args(["eval", "--model", "sft", "--style", "label", "--benchmark", "synthemo", "meld"])
    assert (args.model, args.style, args.benchmark) == ("sft", "label", ["synthemo", "meld"])
    assert parser().parse_args(["grpo", "--alpha", "0"]).alpha == 0.0


def test_predict_prints_the_trace_answer_and_entropies_for_one_clip(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMOOMNI_RUNS", str(tmp_path / "runs"))
    clip = tmp_path / "clips"
    sample = generate(clip, 1, seed=3)[0]
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(clip / sample.video), "--profile", "smoke", "--model", "base",
              "--transcript", sample.transcript])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "answer:" in out and "vision:" in out and "audio:" in out


def test_predict_names_an_unreadable_clip(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(bad), "--profile", "smoke"])
    assert exit_.value.code == 2 and "broken.mp4" in capsys.readouterr().err


def test_study_prints_the_tables_and_verdicts_for_the_seeds_and_sites_asked(monkeypatch, capsys):
    from emoomni import ablation

    seen = {}

    def outcomes(params):
        seen["params"] = params
        return {"GRPO (fixed)": [{"accuracy": [1, 0, 1, 0]}] * 2, "DyME section (fixed)": [{"accuracy": [1, 1, 1, 1]}] * 2}

    monkeypatch.setattr(ablation, "rmod_study", outcomes)
    with pytest.raises(SystemExit) as exit_:
        main(["study", "--profile", "smoke", "--seeds", "3", "4", "--sites", "section", "--orders", "fixed",
              "--parts", "rmod"])
    out = capsys.readouterr().out
    study = seen["params"].study
    assert exit_.value.code == 0 and (list(study.seeds), list(study.rmod_sites)) == ([3, 4], ["section"])
    assert "| GRPO (fixed) " in out and "+50.0 [12.5, 87.5] *" in out
    assert "|   seed 3 |   seed 4 |" in out  # the per-seed table names the seeds asked
    assert "DyME section (fixed) beats GRPO (fixed) on accuracy by 50.0 points" in out
