"""benchmarks/grpo_step.py: one arm trains on a generated SynthEmo set, pre-training clips (no label) included."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from emoomni.data.synthemo import generate

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "grpo_step.py"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def grpo_step():
    spec = importlib.util.spec_from_file_location("grpo_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_an_arm_reports_its_step_time_and_memory(grpo_step, tiny, tmp_path):
    samples = generate(tmp_path / "clips", 16, seed=0)
    assert any(s.label is None for s in samples)  # the set the script makes holds unlabelled pre-training clips
    result = grpo_step.run_arm("dyme", str(tiny), tmp_path / "clips", 2, 1, tmp_path / "out", 8, 3)
    assert result["arm"] == "dyme" and result["steps"] == 2
    assert result["step_seconds"] > 0 and result["peak_rss_mb"] > 0
