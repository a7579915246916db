"""Progress reporting: library bars and training steps reach the runner's file, and the runner's line reads it."""

import io
import json

from emoomni import progress
from emoomni.notebooks import Watcher
from emoomni.progress import tqdm


def test_a_bar_reports_only_when_the_runner_asks(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.delenv(progress.ENV, raising=False)
    for _ in tqdm(range(3), desc="quiet"):
        pass
    assert not path.exists()
    monkeypatch.setenv(progress.ENV, str(path))
    for _ in tqdm(range(5), desc="clips"):
        pass
    state = progress.read(path)
    assert (state["desc"], state["n"], state["total"]) == ("clips", 5, 5)  # the last state is always written


def test_the_watcher_prints_the_running_cell_and_the_bar(tmp_path):
    executed, state = tmp_path / "05.ipynb", tmp_path / "progress.json"
    cell = lambda status: {"cell_type": "code", "metadata": {"papermill": {"status": status}}}  # noqa: E731
    executed.write_text(json.dumps({"cells": [cell("completed"), cell("running"), cell("pending")]}))
    state.write_text(json.dumps({"desc": "GRPO alpha=0.1 steps", "n": 4, "total": 40, "elapsed": 8.0}))
    out = io.StringIO()
    watcher = Watcher("05_dyme_grpo", executed, state, expected=100.0, stream=out)
    line = watcher.line()
    assert line.startswith("05_dyme_grpo  cell 2/3  0:00 elapsed, about 1:40 left")
    assert line.endswith("GRPO alpha=0.1 steps [##                  ] 4/40 0:08<1:12")
    executed.write_text("{ half a file")  # papermill rewriting it: the last cell seen stays
    assert "cell 2/3" in watcher.line()


def test_training_steps_are_reported(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from emoomni.train.runs import ProgressReport

    path = tmp_path / "progress.json"
    monkeypatch.setenv(progress.ENV, str(path))
    callback = ProgressReport("training steps")
    callback.on_train_begin(None, None, None)
    callback.on_step_end(None, SimpleNamespace(global_step=12, max_steps=12), None)
    assert {k: progress.read(path)[k] for k in ("desc", "n", "total")} == {"desc": "training steps", "n": 12, "total": 12}
