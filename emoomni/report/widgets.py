"""Views of a :class:`~emoomni.evaluate.trace_analysis.TraceAnalysis`: static figures and tables, and an ipywidgets Inspector.

The static views (:func:`figure_media`, :func:`trace_view`, :func:`guided_table`, :func:`figure_attention`,
all in :func:`static_views`) need only matplotlib and pandas, so a book page can show a fixed sample.
:class:`Inspector` puts the same views behind a model and sample selector; it needs ``ipywidgets``
(the ``book`` extra), imported when one is built. Figures go into ``Image`` widgets as PNG bytes, so
the whole UI can be driven and checked without a browser or a kernel.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from emoomni.data.manifest import Sample
from emoomni.evaluate.registry import load_model
from emoomni.evaluate.trace_analysis import SPANS, TraceAnalysis, trace_analysis
from emoomni.omnicot import GUIDED_TOKENS
from emoomni.report.trace_html import token_html

SPAN_COLOURS = {"video": "#4C72B0", "audio": "#DD8452", "text": "#8C8C8C"}


class Html:
    """An HTML fragment that notebooks (and Jupyter Book) render as HTML."""

    def __init__(self, data: str) -> None:
        self.data = data

    def _repr_html_(self) -> str:
        return self.data

    def __repr__(self) -> str:
        return f"Html({len(self.data)} characters)"


def figure_media(analysis: TraceAnalysis, width: float = 9.0):
    """The sample's frames as a strip above its waveform (either omitted when the sample lacks it)."""
    frames, wave = analysis.frames, analysis.waveform
    k = len(frames)
    fig = plt.figure(figsize=(width, (2.2 if k else 0.0) + (1.6 if len(wave) else 0.5) + 0.4))
    grid = fig.add_gridspec(2 if k else 1, max(k, 1), height_ratios=[2.2, 1.6 if len(wave) else 0.5] if k else None)
    for i, frame in enumerate(frames):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(frame)
        ax.set_axis_off()
    ax = fig.add_subplot(grid[1 if k else 0, :])
    if len(wave):
        ax.plot(np.arange(len(wave)) / analysis.waveform_rate, wave, lw=0.6, color=SPAN_COLOURS["audio"])
        ax.set(xlabel="seconds", ylabel="amplitude")
        ax.set_xlim(0, len(wave) / analysis.waveform_rate)
    else:
        ax.text(0.5, 0.5, "no audio in the input", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    sound = "the video's own track" if analysis.audio_in_video else "a separate audio file"
    fig.suptitle(f"{analysis.sample_id} (gold: {analysis.gold}; sound: {sound})", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def figure_attention(analysis: TraceAnalysis, width: float = 7.0):
    """Stacked bars: each section's attention on the video, audio and text spans of the input (shares of 1)."""
    names = list(analysis.attention)
    fig, ax = plt.subplots(figsize=(width, 0.5 * len(names) + 1.3))
    left = np.zeros(len(names))
    for span in SPANS:
        values = np.array([analysis.attention[n][span] for n in names])
        ax.barh(names, values, left=left, color=SPAN_COLOURS[span], label=span)
        for y, (x0, v) in enumerate(zip(left, values)):
            if v >= 0.06:
                ax.text(x0 + v / 2, y, f"{v:.2f}", ha="center", va="center", fontsize=8, color="white")
        left += values
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set(xlabel="share of the attention paid to the input (layers and heads averaged)",
           title="Where each section of the trace attends")
    ax.legend(ncol=3, fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.08))
    if not analysis.sections:
        ax.text(0.5, -0.15, "no guided token was generated: only the whole trace is shown", ha="center",
                transform=ax.transAxes, fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def guided_table(analysis: TraceAnalysis) -> pd.DataFrame:
    """H_m, p_m and w_m at each guided token (position in the trace), then p* and R_mod of the sample."""
    rows = {}
    for token in GUIDED_TOKENS:
        g = analysis.guided.get(token)
        m = token.strip("[]")
        w = analysis.weights.get(m) if analysis.weights and m in analysis.weights else np.nan
        rows[token] = {"position": g["index"] if g else np.nan, "H (nats)": g["entropy"] if g else np.nan,
                       "p": g["prob"] if g else np.nan, "w": w}
    rows[f"p* (gold: {analysis.gold})"] = {"p": np.nan if analysis.p_star is None else analysis.p_star}
    rows["R_mod"] = {"H (nats)": analysis.r_mod}
    frame = pd.DataFrame(rows).T[["position", "H (nats)", "p", "w"]]
    frame["position"] = frame["position"].astype("Int64")
    return frame.round(4)


def trace_view(analysis: TraceAnalysis, vmax: float | None = None) -> Html:
    """The entropy-coloured trace (:func:`emoomni.report.trace_html.token_html`) as a displayable object."""
    return Html(token_html(analysis, vmax=vmax))


def static_views(analysis: TraceAnalysis) -> list:
    """The inspector's views without widgets: media figure, coloured trace, guided table, attention figure."""
    return [figure_media(analysis), trace_view(analysis), guided_table(analysis), figure_attention(analysis)]


def _png(fig: Any, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


ModelSpec = str | os.PathLike | tuple[Any, Any]


class Inspector:
    """An ipywidgets UI: pick a model and a sample, run, and see media, the coloured trace, statistics and attention.

    ``models`` maps a name to a model directory (loaded lazily with
    :func:`emoomni.evaluate.registry.load_model`) or to a loaded ``(model, processor)`` pair. Analyses are
    cached per (model, sample); ``hits`` and ``misses`` count cache use. ``widget`` is the top-level
    container; :meth:`select` and :meth:`run` drive it from code. Extra keyword arguments go to
    :func:`~emoomni.evaluate.trace_analysis.trace_analysis`.
    """

    def __init__(self, models: Mapping[str, ModelSpec], samples: Sequence[Sample], data_root: str | Path,
                 labels: str | Sequence[str], max_new_tokens: int = 192, **analysis_kwargs: Any) -> None:
        try:
            import ipywidgets as w
        except ImportError as e:  # pragma: no cover - the book extra installs it
            raise ImportError("Inspector needs ipywidgets (pip install -e '.[book]')") from e
        if not models:
            raise ValueError("Inspector needs at least one model")
        if not samples:
            raise ValueError("Inspector needs at least one sample")
        self.models = dict(models)
        self.samples = list(samples)
        self.data_root = data_root
        self.labels = labels
        self.max_new_tokens = max_new_tokens
        self.analysis_kwargs = analysis_kwargs
        self.cache: dict[tuple[str, int], TraceAnalysis] = {}
        self.hits = self.misses = 0
        self._loaded: dict[str, tuple[Any, Any]] = {}
        self.model_select = w.Dropdown(options=list(self.models), description="model")
        self.sample_select = w.Dropdown(options=[(f"{s.id} ({s.label})", i) for i, s in enumerate(self.samples)],
                                        value=0, description="sample")
        self.button = w.Button(description="Run", button_style="primary", icon="play")
        self.status = w.HTML()
        self.media = w.Image(format="png")
        self.trace = w.HTML()
        self.table = w.HTML()
        self.attention = w.Image(format="png")
        self.button.on_click(self._clicked)
        self.widget = w.VBox([
            w.HBox([self.model_select, self.sample_select, self.button]), self.status, self.media,
            w.HTML("<b>Trace, coloured by the entropy of the distribution that generated each token</b>"),
            self.trace, w.HBox([self.table, self.attention])])

    def select(self, model: str | None = None, sample: int | str | None = None) -> None:
        """Choose the model (by name) and / or the sample (by index or id); nothing runs until :meth:`run`."""
        if model is not None:
            if model not in self.models:
                raise KeyError(f"unknown model {model!r}; known: {list(self.models)}")
            self.model_select.value = model
        if sample is not None:
            if isinstance(sample, str):
                ids = [s.id for s in self.samples]
                if sample not in ids:
                    raise KeyError(f"unknown sample id {sample!r}")
                sample = ids.index(sample)
            if not 0 <= sample < len(self.samples):
                raise IndexError(f"sample index {sample} out of range (0..{len(self.samples) - 1})")
            self.sample_select.value = sample

    def load(self, name: str) -> tuple[Any, Any]:
        """The ``(model, processor)`` of a model name, loaded on first use."""
        if name not in self._loaded:
            spec = self.models[name]
            if isinstance(spec, tuple):
                self._loaded[name] = spec
            else:

                self._loaded[name] = load_model(spec)
        return self._loaded[name]

    def analysis(self, name: str, index: int) -> TraceAnalysis:
        """The (cached) analysis of sample ``index`` under model ``name``."""
        key = (name, index)
        if key in self.cache:
            self.hits += 1
            return self.cache[key]
        self.misses += 1
        model, processor = self.load(name)
        result = trace_analysis(model, processor, self.samples[index], self.data_root, self.labels,
                                max_new_tokens=self.max_new_tokens, **self.analysis_kwargs)
        self.cache[key] = result
        return result

    def run(self) -> TraceAnalysis:
        """Analyse the selected (model, sample), or reuse the cached analysis, and refresh every view."""
        name, index = self.model_select.value, self.sample_select.value
        self.status.value = f"running {name} on {self.samples[index].id} ..."
        result = self.analysis(name, index)
        self.media.value = _png(figure_media(result))
        self.trace.value = token_html(result)
        self.table.value = guided_table(result).to_html(na_rep="")
        self.attention.value = _png(figure_attention(result))
        self.status.value = (f"{name} on {result.sample_id}: answer {result.answer!r} (gold {result.gold!r}), "
                             f"{'valid' if result.valid_format else 'not a valid'} OmniCoT trace, "
                             f"{len(result.tokens)} tokens, {result.seconds:.1f} s")
        return result

    def _clicked(self, _button: Any) -> None:
        """Button handler: run, showing an error in the status line instead of losing it in the kernel log."""
        import html

        try:
            self.run()
        except Exception as e:  # noqa: BLE001 - a UI callback: report it, never lose it
            self.status.value = f'<span style="color:#b00">{html.escape(type(e).__name__ + ": " + str(e))}</span>'

    def _ipython_display_(self) -> None:  # pragma: no cover - notebook only
        from IPython.display import display

        display(self.widget)
