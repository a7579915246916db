import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2.5-Omni thinker, built once per test module."""
    from emoomni.model import build_tiny_omni

    return build_tiny_omni(tmp_path_factory.mktemp("omni") / "tiny")


@pytest.fixture(scope="module")
def omni(tiny: Path):
    """The tiny thinker and its processor, loaded through load_omni."""
    from emoomni.model import load_omni

    return load_omni(tiny)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: two OpenMP threads on a busy 2-core machine slow each step tenfold."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
