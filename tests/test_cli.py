"""The ``emoomni`` command: every subcommand has help, and ``predict`` prints a trace for one clip."""

from __future__ import annotations

import pytest

from emoomni.cli import main, parser
from emoomni.data.synthemo import generate

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("command", ["check", "data synthemo", "data index", "omnicot build", "sft", "grpo", "eval",
                                     "ablation", "predict"])
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
