"""Run the book's notebooks with papermill and check that each .ipynb matches its jupytext .py pair."""

from __future__ import annotations

import argparse
import ast
import json
import logging
import time
from pathlib import Path

from emoomni.paths import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
EXECUTED_DIR = REPO_ROOT / "book" / "executed"
log = logging.getLogger(__name__)


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


def execute(nb: Path, profile: str, out_dir: Path = EXECUTED_DIR, **parameters) -> tuple[Path, float]:
    """Execute one notebook with papermill into ``out_dir``; returns the output path and seconds taken."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / nb.name
    start = time.perf_counter()
    papermill.execute_notebook(
        str(nb), str(out), parameters={"profile": profile, **parameters},
        kernel_name="python3", cwd=str(REPO_ROOT), progress_bar=False,
    )
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
    total = 0.0
    for nb in chosen:
        _, seconds = execute(nb, args.profile, args.out)
        total += seconds
        log.info("%-32s %7.1f s", nb.name, seconds)
        record_time(args.out / "timings.json", nb.name, args.profile, seconds)
    log.info("%-32s %7.1f s", "total", total)


def record_time(path: Path, name: str, profile: str, seconds: float) -> None:
    """Keep the latest execution time of each notebook (per profile) in a JSON file beside the outputs."""
    times = json.loads(path.read_text()) if path.exists() else {}
    times.setdefault(profile, {})[name] = round(seconds, 1)
    path.write_text(json.dumps(times, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
