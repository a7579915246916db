"""Run the book's notebooks with papermill, prepare their kernel, and check each .ipynb against its jupytext .py pair.

Every notebook starts with :func:`setup`, which silences the library warnings listed in
:data:`WARNING_FILTERS` (each with the reason it is safe to), and shows paths with :func:`relative`.
:func:`execute` then drops from the executed copy the stderr lines of :data:`STDERR_NOISE`, which
come from native code that no Python switch reaches.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import TextIO

from emoomni.paths import REPO_ROOT, shown
from emoomni.progress import ENV, show, status_line
from emoomni.progress import read as read_progress

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
EXECUTED_DIR = REPO_ROOT / "book" / "executed"
log = logging.getLogger(__name__)

WARNING_FILTERS: tuple[tuple[type[Warning], str, str], ...] = (
    (FutureWarning, r"`gradient_checkpointing` is deprecated",
     "transformers 5 renamed the training argument `gradient_checkpointing` to `activation_checkpointing`; "
     "the library still passes the old name (False on the embedded default), which works until v6"),
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated",
     "TRL and peft still read the model's `is_gradient_checkpointing`, renamed `is_activation_checkpointing` in "
     "transformers 5; the value is the same until v6 and nothing in this project can change their code"),
)
"""Warnings the book's notebooks do not show: (category, message regex, why it is safe to)."""

STDERR_NOISE: tuple[tuple[str, str], ...] = (
    (r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.",
     "LiteRT's native logger announces its CPU delegate when the `fer` model loads (SynthEmo's separability "
     "check); it is not a warning and no environment variable or Python logger silences it"),
)
"""Whole stderr lines :func:`execute` drops from executed notebooks: (regex, why)."""


def setup() -> None:
    """Prepare a notebook's kernel for the book: the warnings of :data:`WARNING_FILTERS` are not shown."""
    for category, message, _why in WARNING_FILTERS:
        warnings.filterwarnings("ignore", message=message, category=category)


def relative(path: str | Path) -> str:
    """A path as the book shows it: relative to the repository when inside it, else as given.

    >>> relative(REPO_ROOT / "runs" / "default" / "sft"), relative("Qwen/Qwen2.5-Omni-7B")
    ('runs/default/sft', 'Qwen/Qwen2.5-Omni-7B')
    """
    return shown(path, REPO_ROOT)


def drop_noise(nb: dict, patterns: tuple[tuple[str, str], ...] = STDERR_NOISE) -> int:
    """Remove the stderr lines matching ``patterns`` from a notebook's outputs (emptied outputs go); returns how many.

    >>> notice = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n"
    >>> nb = {"cells": [{"cell_type": "code", "outputs": [
    ...     {"output_type": "stream", "name": "stderr", "text": notice},
    ...     {"output_type": "stream", "name": "stdout", "text": "kept\\n"}]}]}
    >>> drop_noise(nb), [o["text"] for o in nb["cells"][0]["outputs"]]
    (1, ['kept\\n'])
    """
    regexes = [re.compile(p) for p, _why in patterns]
    dropped = 0
    for cell in nb.get("cells", []):
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = out["text"] if isinstance(out["text"], str) else "".join(out["text"])
                lines = text.splitlines(keepends=True)
                kept = [line for line in lines if not any(r.fullmatch(line.rstrip("\n")) for r in regexes)]
                dropped += len(lines) - len(kept)
                if not kept:
                    continue
                out["text"] = "".join(kept)
            outputs.append(out)
        if "outputs" in cell:
            cell["outputs"] = outputs
    return dropped


def notebooks() -> list[Path]:
    """The book's notebooks, in execution order."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def defined_names(py: Path) -> list[str]:
    """Functions and classes a notebook's .py pair defines (notebooks must define none)."""
    tree = ast.parse(py.read_text())
    return [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def out_of_sync(nb: Path) -> bool:
    """True when an .ipynb and its .py pair hold different cells."""
    import jupytext

    a = jupytext.read(nb)
    b = jupytext.read(nb.with_suffix(".py"))
    cells = lambda n: [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in n.cells]  # noqa: E731
    return cells(a) != cells(b)


def running_cell(nb: dict) -> tuple[int, int] | None:
    """``(number, of)`` of the code cell papermill marks as running in a partly executed notebook, or None.

    >>> cell = lambda status: {"cell_type": "code", "metadata": {"papermill": {"status": status}}}
    >>> running_cell({"cells": [cell("completed"), {"cell_type": "markdown"}, cell("running"), cell("pending")]})
    (2, 3)
    >>> running_cell({"cells": [cell("pending")]}) is None
    True
    """
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for i, c in enumerate(code, 1):
        if c.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return i, len(code)
    return None


class Watcher(threading.Thread):
    """Prints, while a notebook executes, its running cell, the time spent and left, and the library's latest bar.

    On a terminal the line is redrawn every second; elsewhere (a CI log) a line is printed every 30 s.
    """

    def __init__(self, name: str, executed: Path, progress: Path, expected: float | None,
                 stream: TextIO = sys.stderr) -> None:
        super().__init__(daemon=True)
        self.name_, self.executed, self.progress, self.expected, self.stream = name, executed, progress, expected, stream
        self.start_time, self.done, self.cell = time.monotonic(), threading.Event(), None
        self.tty = stream.isatty()

    def line(self) -> str:
        """The status line now."""
        try:
            self.cell = running_cell(json.loads(self.executed.read_text())) or self.cell
        except (OSError, ValueError):
            pass  # papermill is rewriting the file; keep the last cell seen
        return status_line(self.name_, self.cell, time.monotonic() - self.start_time, self.expected,
                           read_progress(self.progress))

    def run(self) -> None:
        every, last = (1.0, 0.0) if self.tty else (30.0, time.monotonic())
        while not self.done.wait(1.0):
            if time.monotonic() - last >= every:
                last = time.monotonic()
                show(self.stream, self.line())

    def stop(self) -> None:
        """Stop and clear the line."""
        self.done.set()
        self.join(timeout=5)
        if self.tty:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def execute(nb: Path, profile: str, out_dir: Path = EXECUTED_DIR, expected: float | None = None,
            **parameters) -> tuple[Path, float]:
    """Execute one notebook with papermill into ``out_dir``; returns the output path and seconds taken.

    While it runs, a :class:`Watcher` shows its progress on stderr; ``expected`` (seconds, the last build's
    time) gives the estimate of what is left.
    """
    import papermill  # here, not at the top: every notebook's kernel imports this module, and papermill costs seconds

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / nb.name
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        progress = Path(tmp) / "progress.json"
        previous = os.environ.get(ENV)
        os.environ[ENV] = str(progress)  # the kernel inherits it
        watcher = Watcher(nb.stem, out, progress, expected)
        watcher.start()
        try:
            papermill.execute_notebook(
                str(nb), str(out), parameters={"profile": profile, **parameters},
                kernel_name="python3", cwd=str(REPO_ROOT), progress_bar=False,
            )
        finally:
            watcher.stop()
            if previous is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = previous
    executed = json.loads(out.read_text())
    if drop_noise(executed):
        out.write_text(json.dumps(executed, indent=1, ensure_ascii=False) + "\n")
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Execute every notebook (or the named ones) in order on a profile and print the time each took."""
    parser = argparse.ArgumentParser(prog="python -m emoomni.notebooks", description=main.__doc__)
    parser.add_argument("--profile", default="default", help="params/<profile>.yaml to run on (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=EXECUTED_DIR, help="where executed notebooks go")
    parser.add_argument("names", nargs="*", help="notebook names or prefixes (e.g. 05); all when omitted")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    chosen = [nb for nb in notebooks() if not args.names or any(nb.name.startswith(n) for n in args.names)]
    if not chosen:
        parser.error(f"no notebook matches {args.names}")
    timings = args.out / "timings.json"
    last = json.loads(timings.read_text()).get(args.profile, {}) if timings.exists() else {}
    total = 0.0
    for nb in chosen:
        _, seconds = execute(nb, args.profile, args.out, expected=last.get(nb.name))
        total += seconds
        log.info("%-32s %7.1f s", nb.name, seconds)
        record_time(args.out / "timings.json", nb.name, args.profile, seconds)
    log.info("%-32s %7.1f s", "total", total)


def record_time(path: Path, name: str, profile: str, seconds: float) -> None:
    """Keep the latest execution time of each notebook (per profile) in a JSON file beside the outputs.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "new" / "timings.json"
    >>> record_time(path, "prefetch", "smoke", 65.94); record_time(path, "00_synthemo.ipynb", "smoke", 14.1)
    >>> json.loads(path.read_text())
    {'smoke': {'00_synthemo.ipynb': 14.1, 'prefetch': 65.9}}
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    times = json.loads(path.read_text()) if path.exists() else {}
    times.setdefault(profile, {})[name] = round(seconds, 1)
    path.write_text(json.dumps(times, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
