"""Figures and tables of the SynthEmo chapter; each returns a figure (closed) or a frame."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from emoomni.data.manifest import Sample, resolve_media
from emoomni.data.synthemo.design import CLASSES, CONDITIONS, INDEPENDENT, MODALITIES
from emoomni.media import read_audio, read_frames

TARGET = 0.90


def frames_grid(samples: list[Sample], root: str | Path, split: str | None = None):
    """The apex frame of one clip per gold label (rows) and condition (columns), titled with its cues."""
    pool = [s for s in samples if split is None or s.split == split]
    fig, axes = plt.subplots(len(CLASSES), len(CONDITIONS), figsize=(2.0 * len(CONDITIONS), 2.2 * len(CLASSES)))
    for i, label in enumerate(CLASSES):
        for j, cond in enumerate(CONDITIONS):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            match = next((s for s in pool if s.label == label and s.meta["condition"] == cond), None)
            if match is not None:
                ax.imshow(read_frames(resolve_media(root, match.video))[-1])
                c = match.meta["cues"]
                ax.set_title(f"V {c['vision'][:4]} A {c['audio'][:4]} T {c['text'][:4]}", fontsize=7)
            else:
                ax.text(0.5, 0.5, "none by design" if label == "neutral" else "not in sample", ha="center",
                        va="center", fontsize=7, transform=ax.transAxes)
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_xlabel(cond, fontsize=8)
                ax.xaxis.set_label_position("top")
    fig.suptitle("Apex frames per gold label (rows) and condition (columns); V/A/T: the cue each modality carries")
    fig.tight_layout()
    plt.close(fig)
    return fig


def prosody_tracks(samples: list[Sample], root: str | Path, per_class: int = 4, sr: int = 16000):
    """Pitch (yin) and loudness (RMS) over time for a few clips of each vocal cue."""
    import librosa

    fig, (ax_f0, ax_rms) = plt.subplots(1, 2, figsize=(12, 4))
    colours = dict(zip(CLASSES, plt.cm.tab10.colors))
    for label in CLASSES:
        chosen = [s for s in samples if s.meta["cues"]["audio"] == label][:per_class]
        for k, s in enumerate(chosen):
            y = read_audio(resolve_media(root, s.video), sr)
            rms = librosa.feature.rms(y=y, frame_length=1024, hop_length=256)[0]
            f0 = librosa.yin(y, fmin=70, fmax=450, sr=sr, frame_length=1024, hop_length=256)[: len(rms)]
            t = np.arange(len(rms)) * 256 / sr
            f0 = np.where(rms > 0.15 * rms.max(), f0, np.nan)
            kw = {"color": colours[label], "alpha": 0.8, "label": label if k == 0 else None}
            ax_f0.plot(t, f0, **kw)
            ax_rms.plot(t, rms, **kw)
    ax_f0.set(xlabel="time (s)", ylabel="F0 (Hz)", title="Pitch where voiced")
    ax_rms.set(xlabel="time (s)", ylabel="RMS", title="Loudness")
    ax_rms.legend(title="vocal cue", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def condition_mixture(samples: list[Sample]):
    """The share of each condition in each split, as stacked bars."""
    frame = pd.crosstab(pd.Series([s.split for s in samples], name="split"),
                        pd.Series([s.meta["condition"] for s in samples], name="condition"), normalize="index")
    frame = frame.reindex(columns=[c for c in (*CONDITIONS, INDEPENDENT) if c in frame.columns])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    frame.plot.barh(stacked=True, ax=ax, colormap="tab10")
    ax.set(xlabel="share of clips", ylabel="split", title="Condition mixture per split")
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def counts_table(samples: list[Sample]) -> pd.DataFrame:
    """Clips per split and condition (rows) and gold label (columns; "no majority" for pre-training clips without one)."""
    frame = pd.DataFrame([{"split": s.split, "condition": s.meta["condition"], "label": s.label or "no majority"}
                          for s in samples])
    return pd.crosstab([frame["split"], frame["condition"]], frame["label"], margins=True)


def dissenter_table(samples: list[Sample]) -> pd.DataFrame:
    """Which modality dissents in the conflict clips of each split."""
    rows = [{"split": s.split, "dissenter": s.meta["dissenter"]} for s in samples if s.meta["condition"] == "conflict"]
    return pd.crosstab(pd.DataFrame(rows)["split"], pd.DataFrame(rows)["dissenter"]).reindex(
        columns=[m for m in MODALITIES if m in {r["dissenter"] for r in rows}])


def separability_table(result: dict) -> pd.DataFrame:
    """Cross-validated accuracy of each modality's own cue from its own signal, against the 90 % target."""
    rows = [{"signal -> cue": k, "cv accuracy": round(v["accuracy"], 3),
             "meets 90 %": v["accuracy"] >= TARGET if "naive" not in k else "(baseline)"}
            for k, v in result["cv"].items()]
    return pd.DataFrame(rows).set_index("signal -> cue")


def fer_agreement_table(result: dict) -> pd.DataFrame:
    """Per visual cue: how often the pretrained ``fer`` model reads the intended expression."""
    table = result["fer"]
    agree = {c: table.loc[c, c] / table.loc[c].sum() if c in table.columns else 0.0 for c in table.index}
    out = table.copy()
    out["agreement"] = pd.Series(agree).round(3)
    return out
