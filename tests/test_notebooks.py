"""Notebooks: paired with their .py, committed without outputs, a literal parameters cell, no logic."""

import ast
import json

import pytest

from emoomni.notebooks import NOTEBOOK_DIR, defined_names, notebooks, out_of_sync

NBS = notebooks()


def test_there_are_notebooks():
    assert NBS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_paired_in_sync_and_without_outputs(nb):
    assert nb.with_suffix(".py").exists()
    assert not out_of_sync(nb), f"{nb.name} differs from its .py pair; run `make sync`"
    data = json.loads(nb.read_text())
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{nb.name} has outputs"
    assert data["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_parameters_cell_holds_only_literals_and_no_logic(nb):
    assert defined_names(nb.with_suffix(".py")) == []
    cells = [c for c in json.loads(nb.read_text())["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1
    tree = ast.parse("".join(cells[0]["source"]))
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign), ast.dump(node)
        ast.literal_eval(node.value)
        names += [t.id for t in node.targets]
    assert "profile" in names


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_papermill_lists_every_parameter_with_a_type_and_help(nb):
    import papermill

    params = papermill.inspect_notebook(str(nb))
    assert "profile" in params
    for name, p in params.items():
        assert p["inferred_type_name"] not in ("None", None), f"{nb.name}: {name} has no type"
        assert p["help"], f"{nb.name}: {name} has no help text"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_notebooks_set_up_their_kernel_and_ask_the_stages_for_results_not_files(nb):
    source = nb.with_suffix(".py").read_text()
    assert "notebooks.setup()" in source, f"{nb.name} does not call emoomni.notebooks.setup()"
    assert source.count("config.load(") == 1, f"{nb.name}: load the profile once, overrides passed to config.load"
    for hard_coded in ("log_history", ".parent /", "overrides[", "if v is not None"):
        assert hard_coded not in source, f"{nb.name} builds {hard_coded!r} by hand"


def test_noise_filters_are_each_given_a_reason():
    from emoomni import notebooks as nbs

    assert all(len(why) > 40 for *_, why in nbs.WARNING_FILTERS + nbs.STDERR_NOISE)


def test_a_kernel_importing_the_helpers_does_not_import_papermill():
    import subprocess
    import sys

    code = "import sys, emoomni.notebooks; print('papermill' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_a_figure_cell_calls_no_stage(nb):
    """A stage call can draw progress bars; beside a named figure they become outputs with its name twice."""
    for cell in json.loads(nb.read_text())["cells"]:
        if cell["cell_type"] == "code" and "figure" in cell["metadata"].get("mystnb", {}):
            assert "stages." not in "".join(cell["source"]), f"{nb.name}: compute in a remove-output cell first"
