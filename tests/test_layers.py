"""The library's layers: every import points down the list (or stays in its layer), and no import circle exists.

The list is DESIGN's: records and data, then extract and verify, build, model, train, evaluate, report,
then the stages, notebooks and the command line. A module that fits no layer fails the test, so a new
file is placed on purpose. Imports inside functions count as much as those at the top of a module;
only the modules in :data:`LAZY` may import the library inside functions, for the reason given.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "emoomni"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("emoomni", "emoomni.records", "emoomni.labels", "emoomni.metrics", "emoomni.omnicot", "emoomni.media",
              "emoomni.paths", "emoomni.prompts", "emoomni.settings", "emoomni.audit", "emoomni.paper",
              "emoomni.ledger", "emoomni.pretrained", "emoomni.intervals", "emoomni.progress",
              "emoomni.resources", "emoomni.omni7b", "emoomni.paper_plan")),
    ("data", ("emoomni.data",)),
    ("extract", ("emoomni.extract",)),
    ("build", ("emoomni.build", "emoomni.export")),
    ("model", ("emoomni.model",)),
    ("train", ("emoomni.train",)),
    ("evaluate", ("emoomni.evaluate",)),
    ("report", ("emoomni.report",)),
    ("stages", ("emoomni.config", "emoomni.stages", "emoomni.ablation", "emoomni.notebooks", "emoomni.prefetch", "emoomni.check",
                "emoomni.rehearsal", "emoomni.cli")),
)

LAZY = {
    "emoomni.cli": "`emoomni --help` and argument errors answer without importing torch",
    "emoomni.train": "the package's lazy exports keep `import emoomni.train.rewards` free of torch",
}


def module_name(path: Path) -> str:
    """The dotted module name of a file under the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the library by name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> int:
    """The index of a module's layer in :data:`LAYERS` (the longest matching prefix wins)."""
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    if rank is None:
        raise AssertionError(f"{name} belongs to no layer; add it to LAYERS in {__file__}")
    return rank


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for every import of the library in one file."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = {id(n) for n in tree.body}
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, node.lineno, id(node) in nested and id(node) not in top))
    return found


def test_every_import_points_down_the_layers_and_none_hides_in_a_function():
    mods = modules()
    known = set(mods)
    upward, hidden = [], []
    for name, path in mods.items():
        for target, line, inside in imports(name, path, known):
            if layer_of(target) > layer_of(name):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} "
                              f"({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
            if inside and name not in LAZY:
                hidden.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} imports {target} inside a function")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)
    assert not hidden, "imports inside functions (move them to the top, or list the module in LAZY):\n" + "\n".join(hidden)


def test_no_import_circle():
    mods = modules()
    known = set(mods)
    graph = {name: {t for t, _, _ in imports(name, path, known)} for name, path in mods.items()}
    # a package's __init__ importing its own submodules is how packages work, not a circle
    graph = {n: {t for t in ts if not t.startswith(n + ".")} for n, ts in graph.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        pytest.fail(f"import circle: {' -> '.join(e.args[1])}")


def test_the_checks_catch_an_upward_import_and_a_circle(tmp_path):
    fake = {"emoomni.data.x": tmp_path / "x.py", "emoomni.stages": tmp_path / "s.py"}
    fake["emoomni.data.x"].write_text("def f():\n    from emoomni.stages import g\n")
    fake["emoomni.stages"].write_text("from emoomni.data.x import f\n")
    known = set(fake)
    found = imports("emoomni.data.x", fake["emoomni.data.x"], known)
    assert found == [("emoomni.stages", 2, True)] and layer_of("emoomni.stages") > layer_of("emoomni.data.x")
    graph = {n: {t for t, _, _ in imports(n, p, known)} for n, p in fake.items()}
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter(graph).static_order())


def test_the_readme_picture_lists_every_module():
    readme = (PACKAGE.parent / "README.md").read_text()
    picture = readme[readme.index("## Layout: the library's layers"):]
    picture = picture[: picture.index("\n## ", 1)]
    missing = []
    for name, path in modules().items():
        if path.name == "__init__.py":
            continue
        rel = path.relative_to(PACKAGE)
        stem = rel.stem + ".py"
        if rel.parent.name == "synthemo":
            stem = rel.stem  # listed as synthemo/{design,face,...}.py
        if stem not in picture:
            missing.append(str(rel))
    assert not missing, f"README's layer picture does not list {missing}"
