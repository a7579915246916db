"""Figures and tables of the OmniCoT construction chapters (evidence and verification)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from emoomni.data.manifest import Sample
from emoomni.extract.base import MODALITIES, Evidence
from emoomni.extract.verify import Verdict
from emoomni.extract.verify_rules import candidate_labels, lexical_emotion, reason_vote


def _group(s: Sample) -> str:
    return s.meta.get("condition", "all")


def evidence_examples(samples: Sequence[Sample], evidence: Sequence[Evidence], per_group: int = 1) -> pd.DataFrame:
    """A few samples' evidence per condition (or one group when there are no conditions)."""
    rows, seen = [], {}
    for s, ev in zip(samples, evidence):
        g = _group(s)
        if seen.get(g, 0) >= per_group or not ev.complete:
            continue
        seen[g] = seen.get(g, 0) + 1
        rows.append({"condition": g, "gold": s.label, **{m: getattr(ev, m) for m in MODALITIES}})
    return pd.DataFrame(rows).set_index(["condition", "gold"])


def suggested(ev: Evidence, labels: Sequence[str]) -> dict[str, str | None]:
    """The emotion each modality's evidence suggests (Phi on its reason; the lexicon for dialogue)."""
    ls = candidate_labels(labels)
    return {"vision": reason_vote(ev.vision, ls), "audio": reason_vote(ev.audio, ls),
            "dialogue": ls.canonical(lexical_emotion(ev.dialogue)) if ev.dialogue else None}


def modality_agreement(samples: Sequence[Sample], evidence: Sequence[Evidence], labels: Sequence[str]) -> pd.DataFrame:
    """Per condition and modality: how often the evidence suggests the gold label."""
    rows = []
    for s, ev in zip(samples, evidence):
        for m, v in suggested(ev, labels).items():
            rows.append({"condition": _group(s), "modality": m, "agrees with gold": v == s.label})
    frame = pd.DataFrame(rows)
    table = frame.pivot_table(index="condition", columns="modality", values="agrees with gold", aggfunc="mean")
    table.loc["all"] = frame.groupby("modality")["agrees with gold"].mean()
    return table[list(MODALITIES)].round(3)


def cue_recovery(samples: Sequence[Sample], evidence: Sequence[Evidence], labels: Sequence[str]) -> pd.DataFrame:
    """Per modality: how often the offline evidence names the cue the clip was built with (SynthEmo only)."""
    key = {"vision": "vision", "audio": "audio", "dialogue": "text"}
    rows = []
    for s, ev in zip(samples, evidence):
        if "cues" not in s.meta:
            continue
        for m, v in suggested(ev, labels).items():
            rows.append({"modality": m, "recovered": v == s.meta["cues"][key[m]]})
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).groupby("modality")["recovered"].mean().reindex(list(MODALITIES)).round(3).to_frame()


def retention(samples: Sequence[Sample], verdicts: Sequence[Verdict], by: str = "label") -> pd.DataFrame:
    """Samples, kept samples and the retention rate per gold label or per condition."""
    frame = pd.DataFrame({
        by: [s.label if by == "label" else _group(s) for s in samples],
        "kept": [bool(v.supported) for v in verdicts],
        "unparseable": [v.supported is None for v in verdicts],
    })
    out = frame.groupby(by).agg(samples=("kept", "size"), kept=("kept", "sum"), unparseable=("unparseable", "sum"))
    out.loc["all"] = out.sum()
    out["retention"] = (out["kept"] / out["samples"]).round(3)
    return out


def retention_plot(samples: Sequence[Sample], verdicts: Sequence[Verdict]):
    """Retention rate per gold label and per condition."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, by in zip(axes, ("label", "condition")):
        r = retention(samples, verdicts, by).drop(index="all")
        r["retention"].plot.bar(ax=ax, color="tab:blue")
        ax.set(ylim=(0, 1), ylabel="share kept", xlabel=by, title=f"Retention per {by}")
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    plt.close(fig)
    return fig


def rejection_reasons(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    """Why samples were dropped, grouped by the reason's first words."""
    reasons = [v.reason.split("(")[0].strip() for v in verdicts if not v.supported]
    return pd.Series(reasons).value_counts().rename_axis("reason").rename("samples").to_frame()


def error_summary(errors: Sequence[dict]) -> pd.DataFrame:
    """Per-sample errors counted by stage and problem."""
    if not errors:
        return pd.DataFrame({"samples": []})
    rows = [{"stage": e["stage"], "problem": e["error"].split(":")[0] + ": " + e["error"].split("(")[-1].rstrip(")")}
            for e in errors]
    return pd.DataFrame(rows).value_counts().rename("samples").to_frame()


def trace_text(record, width: int = 100) -> str:
    """A record's rendered trace, wrapped for reading."""
    return "\n".join(textwrap.fill(line, width, subsequent_indent="    ") for line in record.text.splitlines())
