"""Progress a person can follow while the book builds: every bar of the library also reports to the terminal.

Inside a notebook, ``tqdm`` draws widgets that only the executed notebook shows. When the book runner
(:mod:`emoomni.notebooks`) executes a notebook it sets :data:`ENV` to a file; every :class:`tqdm` of the
library (and every training run, through :class:`emoomni.train.runs.ProgressReport`) then also writes
its latest state there, at most once a second, and the runner prints it on the terminal beside the
running cell, the elapsed time and an estimate of what remains.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TextIO

from tqdm.auto import tqdm as _auto_tqdm

ENV = "EMOOMNI_PROGRESS"
"""Environment variable naming the file progress is reported to (unset: nothing is reported)."""

_last: dict[str, float] = {}


def report(desc: str | None, n: float, total: float | None, elapsed: float | None, force: bool = False) -> None:
    """Write one bar's state to the file named by :data:`ENV` (at most once a second per bar, unless ``force``)."""
    path = os.environ.get(ENV)
    if not path:
        return
    now = time.monotonic()
    key = desc or ""
    if not force and now - _last.get(key, -1e9) < 1.0:
        return
    _last[key] = now
    state = {"desc": desc or "", "n": n, "total": total, "elapsed": elapsed, "time": time.time()}
    tmp = f"{path}.{os.getpid()}.tmp"
    Path(tmp).write_text(json.dumps(state))
    os.replace(tmp, path)  # the reader never sees half a state


def read(path: str | Path) -> dict[str, Any] | None:
    """The last reported state in ``path``, or None when there is none (yet)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


class tqdm(_auto_tqdm):  # noqa: N801 (the name every caller of tqdm knows)
    """``tqdm.auto.tqdm`` that also reports its state (see :func:`report`)."""

    def display(self, *args: Any, **kwargs: Any) -> Any:
        shown = super().display(*args, **kwargs)
        report(self.desc, self.n, self.total, self.format_dict.get("elapsed"), force=self.n == self.total)
        return shown


def show(stream: TextIO, text: str) -> None:
    """Print a status line: redrawn in place on a terminal, one line each time in a log."""
    stream.write(f"\r\x1b[2K{text[:200]}" if stream.isatty() else f"{text}\n")
    stream.flush()


def clock(seconds: float | None) -> str:
    """Seconds as ``m:ss`` (or ``h:mm:ss``); ``?`` when unknown.

    >>> clock(75), clock(3725.4), clock(None)
    ('1:15', '1:02:05', '?')
    """
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def bar_text(state: dict[str, Any] | None, width: int = 20) -> str:
    """One reported bar as text: its description, a bar, the count and its own time left.

    >>> bar_text({"desc": "GRPO steps", "n": 10, "total": 40, "elapsed": 30.0})
    'GRPO steps [#####               ] 10/40 0:30<1:30'
    >>> bar_text({"desc": "clips", "n": 7, "total": None, "elapsed": 2.0}), bar_text(None)
    ('clips 7 0:02', '')
    """
    if not state:
        return ""
    n, total, elapsed = state.get("n", 0), state.get("total"), state.get("elapsed")
    if not total:
        return f"{state.get('desc', '')} {n:g} {clock(elapsed)}".strip()
    done = min(max(n / total, 0.0), 1.0)
    fill = int(round(done * width))
    left = elapsed * (total - n) / n if elapsed and n else None
    return f"{state.get('desc', '')} [{'#' * fill}{' ' * (width - fill)}] {n:g}/{total:g} {clock(elapsed)}<{clock(left)}".strip()


def status_line(name: str, cell: tuple[int, int] | None, elapsed: float, expected: float | None,
                state: dict[str, Any] | None) -> str:
    """The runner's line for one notebook: the cell running, time spent, time left by the last build, the bar.

    >>> status_line("05_dyme_grpo", (7, 15), 72.0, 197.0, {"desc": "GRPO steps", "n": 10, "total": 40, "elapsed": 30})
    '05_dyme_grpo  cell 7/15  1:12 elapsed, about 2:05 left  | GRPO steps [#####               ] 10/40 0:30<1:30'
    >>> status_line("00_synthemo", None, 3.0, None, None)
    '00_synthemo  starting  0:03 elapsed'
    """
    where = f"cell {cell[0]}/{cell[1]}" if cell else "starting"
    line = f"{name}  {where}  {clock(elapsed)} elapsed"
    if expected:
        line += f", about {clock(max(expected - elapsed, 0.0))} left" if expected > elapsed else ", over the last build's time"
    inner = bar_text(state)
    return f"{line}  | {inner}" if inner else line
