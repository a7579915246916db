"""GRPO-chapter figures and tables on small fixture logs and predictions."""

import matplotlib.figure
import pandas as pd
import pytest

from emoomni.data.manifest import Sample
from emoomni.evaluate.predict import Prediction
from emoomni.report import grpo

LABELS = ("happy", "sad")


def _log(path, w_vision):
    pd.DataFrame({"step": [1, 2, 3], "reward": [0.1, 0.2, 0.4], "dyme/w_vision": w_vision,
                  "dyme/w_audio": [1 - w for w in w_vision], "dyme/H_vision": [1.0, 0.9, 0.8],
                  "kl": [0.0, 0.01, 0.02]}).to_csv(path, index=False)
    return path


def test_curves_and_weights_plot_the_logged_columns(tmp_path):
    logs = {"a=0.1": _log(tmp_path / "a.csv", [0.5, 0.6, 0.7]), "a=0": _log(tmp_path / "b.csv", [0.5, 0.5, 0.5])}
    fig = grpo.grpo_curves(logs)
    assert isinstance(fig, matplotlib.figure.Figure)
    titles = {ax.get_title() for ax in fig.axes}
    assert {"total reward R", "w_vision", "KL to the SFT model"} <= titles and "p* (gold answer)" not in titles
    assert isinstance(grpo.modality_weight_curves(logs), matplotlib.figure.Figure)
    first, last = grpo.last_logged(logs["a=0.1"], window=1)["dyme/w_vision"]
    assert (first, last) == (0.5, 0.7)
    with pytest.raises(ValueError, match="none of the GRPO columns"):
        grpo.grpo_curves({"x": _log(tmp_path / "c.csv", [0.5] * 3)}, columns={"missing": "m"})


def test_scores_by_condition_give_accuracy_and_uar_per_subset():
    samples = [Sample(f"s{i}", "synthemo", "test", video="a.mp4", label=g, meta={"condition": c})
               for i, (g, c) in enumerate([("happy", "agree"), ("sad", "agree"), ("sad", "conflict")])]
    preds = [Prediction(sample_id=s.id, text="", answer=a, gold=s.label, valid_format=True,
                        stats={"vision": None, "audio": None}, p_star=None)
             for s, a in zip(samples, ["happy", "happy", None])]
    table = grpo.scores_by_condition({"m": preds}, samples, LABELS)
    assert table.loc["agree", ("accuracy", "m")] == 50 and table.loc["conflict", ("accuracy", "m")] == 0
    assert table.loc["all", ("accuracy", "m")] == pytest.approx(33.3)
    assert table.loc["agree", ("UAR", "m")] == 50


def test_reward_share_sentence_reports_the_entropy_term_from_the_log(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"step": [1, 2], "reward": [0.5, 0.3], "rewards/modality_reward/mean": [0.02, 0.02],
                  "dyme/H_vision": [0.01, 0.03], "dyme/H_audio": [0.02, 0.02], "dyme/p_vision": [0.99, 0.99],
                  "dyme/p_audio": [0.98, 0.98], "dyme/R_mod": [0.02, 0.02]}).to_csv(path, index=False)
    text = grpo.reward_share_sentence(path, 0.1)
    assert "H_vision = 0.0200" in text and "added 0.002000 to a mean reward of 0.4000 (0.50 % of it)" in text


def test_advantage_share_sentence_reads_the_logged_share(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"step": [1, 2], "reward": [0.5, 0.6], "dyme/advantage_share_alpha": [0.4, 0.6],
                  "dyme/constant_task_groups": [0.5, 0.7]}).to_csv(path, index=False)
    text = grpo.advantage_share_sentence(path)
    assert "50.0 % of the summed absolute advantage" in text and "60.0 % of the groups" in text
    pd.DataFrame({"step": [1], "reward": [0.5]}).to_csv(path, index=False)
    assert "no advantage share" in grpo.advantage_share_sentence(path)
