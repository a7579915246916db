"""Figures and tables of the training chapters: loss curves and before / after evaluations."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from emoomni.data.manifest import Sample
from emoomni.data.synthemo.text import template_emotion
from emoomni.metrics import emotion_metrics


def loss_curves(logs: Mapping[str, str | Path]):
    """Training (and evaluation) loss against step for each run's ``log_history.csv``."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for name, path in logs.items():
        frame = pd.read_csv(path)
        if "loss" in frame:
            rows = frame.dropna(subset=["loss"])
            ax.plot(rows["step"], rows["loss"], label=f"{name}: train")
        if "eval_loss" in frame:
            rows = frame.dropna(subset=["eval_loss"])
            ax.plot(rows["step"], rows["eval_loss"], "o--", label=f"{name}: eval")
    ax.set(xlabel="optimizer step", ylabel="loss (assistant tokens)", title="Loss curves")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def prediction_summary(runs: Mapping[str, Sequence], labels: Sequence[str]) -> pd.DataFrame:
    """Per model: valid OmniCoT format rate, accuracy, UAR, weighted F1 and unknown rate (percent)."""
    rows = {}
    for name, preds in runs.items():
        m = emotion_metrics([p.gold for p in preds], [p.answer for p in preds], labels)
        rows[name] = {"valid format": 100 * sum(p.valid_format for p in preds) / len(preds),
                      "accuracy": 100 * m["accuracy"], "UAR": 100 * m["uar"],
                      "weighted F1": 100 * m["weighted_f1"], "unknown": 100 * m["unknown_rate"], "n": len(preds)}
    return pd.DataFrame(rows).T.round(2)


def accuracy_by_condition(runs: Mapping[str, Sequence], samples: Sequence[Sample]) -> pd.DataFrame:
    """Accuracy (percent) per SynthEmo condition for each model."""
    cond = {s.id: s.meta.get("condition", "all") for s in samples}
    out = {}
    for name, preds in runs.items():
        frame = pd.DataFrame({"condition": [cond[p.sample_id] for p in preds], "correct": [p.answer == p.gold for p in preds]})
        out[name] = frame.groupby("condition")["correct"].mean() * 100
    return pd.DataFrame(out).round(1)


def example_outputs(preds: Sequence, n: int = 3, width: int = 400) -> pd.DataFrame:
    """The first ``n`` generated texts beside their gold label and extracted answer."""
    return pd.DataFrame([{"sample": p.sample_id, "gold": p.gold, "answer": p.answer,
                          "text": p.text if len(p.text) <= width else p.text[:width] + " ..."} for p in preds[:n]])


def before_after_sentence(runs: Mapping[str, Sequence], labels: Sequence[str]) -> str:
    """One sentence comparing the first and last run of ``runs`` on format validity and accuracy, from the numbers."""
    table = prediction_summary(runs, labels)
    rows = list(table.iterrows())
    (a, ra), (b, rb) = rows[0], rows[-1]
    change = ("rises" if rb["accuracy"] > ra["accuracy"] else "falls" if rb["accuracy"] < ra["accuracy"]
              else "stays the same, going")
    sentence = (f"{b}: {rb['valid format']:.1f} % of the {int(rb['n'])} outputs are valid OmniCoT traces "
                f"({a}: {ra['valid format']:.1f} %), and accuracy {change} from {ra['accuracy']:.1f} % to "
                f"{rb['accuracy']:.1f} % (UAR {ra['UAR']:.1f} % to {rb['UAR']:.1f} %; chance is about "
                f"{100 / len(labels):.1f} %).")
    label, share = dominant_answer(list(runs.values())[-1])
    if share >= 0.8 and label is None:
        sentence += f" It gives no parseable answer for {100 * share:.0f} % of the clips."
    elif share >= 0.8:
        sentence += (f" It answers {label!r} for {100 * share:.0f} % of the clips: its accuracy is about that "
                     "class's share of the split, not a sign that it recognises emotions.")
    return sentence


def dominant_answer(preds: Sequence) -> tuple[str | None, float]:
    """The most frequent extracted answer of ``preds`` and the share of outputs giving it.

    >>> from types import SimpleNamespace as P
    >>> dominant_answer([P(answer="sad"), P(answer="sad"), P(answer="happy"), P(answer=None)])
    ('sad', 0.5)
    >>> dominant_answer([])
    (None, 0.0)
    """
    counts = Counter(p.answer for p in preds)
    if not counts:
        return None, 0.0
    label, n = counts.most_common(1)[0]
    return label, n / len(preds)


def section_cue_recovery(runs: Mapping[str, Sequence], samples: Sequence[Sample]) -> pd.DataFrame:
    """How often each trace's ``[vision]``, ``[audio]`` and ``[dialogue]`` sections name the clip's designed cue (percent).

    Over every clip with a designed cue for that modality: a ``[vision]`` or ``[audio]`` section names
    its cue with the phrase "suggests <label>" that the OmniCoT evidence uses; a ``[dialogue]`` section
    names the words' cue when the sentence it quotes is one of SynthEmo's sentences of that emotion
    (:func:`emoomni.data.synthemo.text.template_emotion`, whatever its fillers), and is also counted
    when it quotes the transcript word for word. A missing section or phrase counts as a miss; the
    count of sections that have the phrase (or a quote) is given beside.

    >>> from types import SimpleNamespace as P
    >>> s = Sample("a", "synthemo", "test", transcript="I lost the cake.",
    ...            meta={"cues": {"vision": "sad", "audio": "angry", "text": "sad"}})
    >>> text = '[vision] it suggests sad. [audio] it suggests happy. [dialogue] The speaker says: "I lost the game."'
    >>> section_cue_recovery({"m": [P(sample_id="a", text=text)]}, [s]).loc["m"].tolist()
    [100.0, 1.0, 0.0, 1.0, 100.0, 0.0, 1.0]
    """
    by_id = {s.id: s for s in samples}
    rows = {}
    for name, preds in runs.items():
        row = {}
        for section in ("vision", "audio", "dialogue"):
            hits = exact = total = phrased = 0
            for p in preds:
                sample = by_id.get(p.sample_id)
                body = re.search(r"\[" + section + r"\]([^\[]*)", p.text)
                body = body.group(1) if body else ""
                if section == "dialogue":
                    if not (sample and sample.transcript and "text" in sample.meta.get("cues", {})):
                        continue
                    found = re.search(r'"([^"]*)"', body)
                    quoted = found.group(1) if found else None
                    hits += quoted is not None and template_emotion(quoted) == sample.meta["cues"]["text"]
                    exact += quoted is not None and quoted.strip() == sample.transcript.strip()
                else:
                    if not (sample and section in sample.meta.get("cues", {})):
                        continue
                    found = re.search(r"suggests (\w+)", body)
                    hits += found is not None and found.group(1) == sample.meta["cues"][section]
                total += 1
                phrased += found is not None
            row[f"{section} cue named (%)"] = round(100 * hits / total, 1) if total else float("nan")
            if section == "dialogue":
                row["dialogue quoted exactly (%)"] = round(100 * exact / total, 1) if total else float("nan")
            row[f"{section} sections"] = phrased
        rows[name] = row
    return pd.DataFrame(rows).T


def section_cue_recovery_by_condition(preds: Sequence, samples: Sequence[Sample]) -> pd.DataFrame:
    """:func:`section_cue_recovery` of one model's predictions, one row per SynthEmo condition (cue columns only).

    >>> from types import SimpleNamespace as P
    >>> a = Sample("a", "synthemo", "test", meta={"condition": "agree", "cues": {"vision": "sad"}})
    >>> b = Sample("b", "synthemo", "test", meta={"condition": "poker_face", "cues": {"vision": "neutral"}})
    >>> said = "[vision] it suggests sad."
    >>> table = section_cue_recovery_by_condition([P(sample_id="a", text=said), P(sample_id="b", text=said)], [a, b])
    >>> table["vision cue named (%)"].tolist()
    [100.0, 0.0]
    """
    cond = {s.id: s.meta.get("condition", "all") for s in samples}
    rows = {c: section_cue_recovery({c: preds}, [s for s in samples if cond[s.id] == c]).iloc[0]
            for c in sorted(set(cond.values()))}
    table = pd.DataFrame(rows).T
    return table[[c for c in table.columns if c.endswith("cue named (%)")]]
