"""One analysed trace as HTML: each token coloured by the entropy that produced it, guided tokens outlined."""

from __future__ import annotations

import html

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

from emoomni.evaluate.trace_analysis import TraceAnalysis


def entropy_colour(value: float, vmax: float, cmap: str = "YlOrRd") -> str:
    """The hex colour of an entropy on a ``0 .. vmax`` scale (clipped).

    >>> entropy_colour(0.0, 2.0), entropy_colour(5.0, 2.0) == entropy_colour(2.0, 2.0)
    ('#ffffcc', True)
    """
    x = 0.0 if vmax <= 0 else min(max(value / vmax, 0.0), 1.0)
    return to_hex(colormaps[cmap](x))


def _ink(background: str) -> str:
    """Black or white text, whichever reads better on ``background`` (``#rrggbb``)."""
    r, g, b = (int(background[i:i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def token_html(analysis: TraceAnalysis, vmax: float | None = None, cmap: str = "YlOrRd") -> str:
    """The trace as HTML, each token's background coloured by its entropy, with a colour-bar legend.

    ``vmax`` fixes the top of the scale (nats; default: the trace's largest entropy), so that several
    traces can share one. Token text is escaped (model output is untrusted); guided tokens are outlined
    and every token's title shows its entropy and probability.
    """
    top = float(vmax) if vmax is not None else float(max(np.max(analysis.entropy, initial=0.0), 1e-6))
    guided_at = {g["index"] for g in analysis.guided.values() if g}
    spans = []
    for j, (piece, h, p) in enumerate(zip(analysis.tokens, analysis.entropy, analysis.prob)):
        bg = entropy_colour(float(h), top, cmap)
        style = f"background:{bg};color:{_ink(bg)}"
        if j in guided_at:
            style += ";outline:2px solid #333;font-weight:bold"
        spans.append(f'<span class="tok" style="{style}" title="H={float(h):.3f} nats, p={float(p):.3f}">'
                     f"{html.escape(piece)}</span>")
    stops = ", ".join(f"{entropy_colour(top * k / 5, top, cmap)} {20 * k}%" for k in range(6))
    legend = ('<div style="display:flex;align-items:center;gap:6px;font-size:12px;margin-top:6px">'
              '<span>entropy 0</span>'
              f'<span style="display:inline-block;width:180px;height:12px;background:linear-gradient(to right, {stops})">'
              f'</span><span>{top:.2f} nats</span></div>')
    body = ('<div style="font-family:monospace;white-space:pre-wrap;line-height:1.8;font-size:13px">'
            + "".join(spans) + "</div>")
    return f'<div class="emoomni-trace">{body}{legend}</div>'
