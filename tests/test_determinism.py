"""The same numbers every time: builds under two hash seeds, in fresh processes, give identical results.

Each build runs in its own interpreter with another ``PYTHONHASHSEED``, so anything that follows the
iteration order of a set of strings, a salted ``hash()`` or an unseeded random stream shows up as a
difference. The fast test builds the tiny tokenizer and the tiny base; the slow one builds the smoke
profile's stages from empty run roots and compares what they wrote.

Both builds make the tiny base on one machine with torch's default intra-op thread count, then train
and predict their SFT and GRPO models in two worker processes of one thread each, as ``make book`` does
(:mod:`emoomni.prefetch`). Results are not bitwise independent of the thread count: the base's audio
encoder's LayerNorm weight and bias gradients are reduced per thread (about 1e-10 apart between one and
two threads), and a matrix product of 5 to 11 rows rounds differently under one and two threads, which
moves DyME-GRPO's entropies (see :mod:`emoomni.prefetch`). So a machine with another core count trains a
slightly different base; the models after it are computed with one thread on any machine.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from emoomni.paths import REPO_ROOT


def run_python(code: str, *args: str, hash_seed: int, **env: str) -> subprocess.Popen:
    """Start ``python -c code args`` from this checkout with ``PYTHONHASHSEED=hash_seed`` and ``env`` added."""
    path = os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    full = {**os.environ, "PYTHONPATH": path, "PYTHONHASHSEED": str(hash_seed), "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", **env}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=full, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(*procs: subprocess.Popen, timeout: float) -> None:
    """Wait for every process; fail with its output when one exits non-zero."""
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        assert p.returncode == 0, out[-4000:]


TINY = """
import json, sys
from pathlib import Path
from emoomni.model import build_tiny_omni
from emoomni.model.tiny_tokenizer import corpus
out = Path(sys.argv[1])
build_tiny_omni(out / "tiny")
(out / "corpus.json").write_text(json.dumps(corpus()))
"""


def test_tokenizer_and_tiny_base_do_not_follow_the_hash_seed(tmp_path):
    a, b = tmp_path / "hash0", tmp_path / "hash1"
    finish(run_python(TINY, str(a), hash_seed=0), run_python(TINY, str(b), hash_seed=1), timeout=300)

    corpus_a, corpus_b = (json.loads((d / "corpus.json").read_text()) for d in (a, b))
    differ = [i for i, (x, y) in enumerate(zip(corpus_a, corpus_b)) if x != y]
    assert len(corpus_a) == len(corpus_b) and not differ, f"corpus lines differ, e.g. {differ[:5]}"
    tok_a, tok_b = (json.loads((d / "tiny" / "tokenizer.json").read_text()) for d in (a, b))
    vocab_a, vocab_b = tok_a["model"]["vocab"], tok_b["model"]["vocab"]
    moved = sorted(t for t in set(vocab_a) | set(vocab_b) if vocab_a.get(t) != vocab_b.get(t))
    assert not moved, f"{len(vocab_a)} against {len(vocab_b)} tokens, {len(moved)} ids differ, e.g. {moved[:5]}"
    assert tok_a["model"]["merges"] == tok_b["model"]["merges"]
    assert tok_a == tok_b
    files = sorted(p.name for p in (a / "tiny").iterdir())
    assert files == sorted(p.name for p in (b / "tiny").iterdir()) and "model.safetensors" in files
    for name in files:
        assert (a / "tiny" / name).read_bytes() == (b / "tiny" / name).read_bytes(), f"{name} differs"


# ---------------------------------------------------------------------------------------------------
# The smoke profile, built twice from empty run roots.

SMOKE = """
from emoomni import config, prefetch, stages
from emoomni.prefetch import Job
params = config.load("smoke")
stages.base_model(params)
failed = prefetch.run([Job("base", params, (("predict", "base", None),)),
                       Job("sft", params, (("predict", "sft:omnicot", None), ("merge",))),
                       Job("grpo", params, (("predict", "grpo", None),), after=("sft",))], workers=2)
assert not failed, failed
"""
"""The smoke build: the base here, its models in two one-thread worker processes (as ``make book``)."""

TIMINGS = {"seconds", "generate_seconds", "stats_seconds", "step_time", "dyme/stats_seconds", "train_runtime",
           "train_samples_per_second", "train_steps_per_second", "eval_runtime", "eval_samples_per_second",
           "eval_steps_per_second"}
"""Measured times: fields of records and logs that are wall-clock measurements, not results."""
ROOT_BOUND = {"data_key"}
"""Hashes of the training rows, which hold absolute media paths: they differ between run roots by design."""
LOGS = "prefetch-logs"
"""What the pooled build's workers printed (:func:`emoomni.prefetch.log_path`): output, not results."""
EVENTS = "events.out.tfevents."
"""TensorBoard event files are named after the time, the host and the process id, and hold wall times."""


def _strip(value, drop: set[str]):
    """``value`` without the keys in ``drop``, at any depth."""
    if isinstance(value, dict):
        return {k: _strip(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_strip(v, drop) for v in value]
    return value


def comparable(path: Path, root: Path) -> object:
    """What must be identical between two builds in a file: its bytes, less measured times and its own root."""
    data = path.read_bytes().replace(str(root).encode(), b"<runs>")
    name = path.name
    if name.endswith(".jsonl"):
        rows = [_strip(json.loads(line), TIMINGS | ROOT_BOUND) for line in data.decode().splitlines() if line]
        # evidence and verdict caches are journals appended as worker processes finish: their order is not a result
        return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True)) if path.parent.name == "cache" else rows
    if name.endswith(".json"):
        return _strip(json.loads(data), TIMINGS | ROOT_BOUND)
    if name.endswith(".csv"):
        return [_strip(row, TIMINGS) for row in csv.DictReader(io.StringIO(data.decode()))]
    if name == "README.md":
        # the model card TRL writes lists its tags in the order of a Python set of strings (the hash seed's)
        return sorted(data.decode().splitlines())
    if zipfile.is_zipfile(io.BytesIO(path.read_bytes())):  # torch.save archives: compare members, not zip headers
        with zipfile.ZipFile(path) as z:
            return {m: z.read(m).replace(str(root).encode(), b"<runs>") for m in z.namelist()
                    if not m.endswith("serialization_id")}
    return data


def tree(root: Path) -> list[str]:
    """Every file under ``root`` (relative), TensorBoard event files as ``<their folder's parent>/<EVENTS>``."""
    return sorted(str(p.parent.parent.relative_to(root) / EVENTS) if EVENTS in p.name
                  else str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and LOGS not in p.parts)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_two_smoke_builds_from_empty_runs_are_identical(tmp_path):
    roots = [tmp_path / "a", tmp_path / "b"]  # names of one length: pickled paths keep their size
    for seed, root in enumerate(roots):  # one after the other
        finish(run_python(SMOKE, hash_seed=seed, EMOOMNI_RUNS=str(root), EMOOMNI_CACHE=str(root) + "-cache"),
               timeout=1800)
    a, b = roots
    files = tree(a)
    assert files == tree(b)
    kinds = {"manifest": "manifest.jsonl", "tokenizer": "tokenizer.json", "weights": ".safetensors",
             "predictions": "predictions.jsonl", "records": "omnicot.jsonl"}
    for kind, ending in kinds.items():
        assert any(f.endswith(ending) for f in files), f"the build wrote no {kind} file"
    differ = [f for f in files if not f.endswith(EVENTS) and comparable(a / f, a) != comparable(b / f, b)]
    assert not differ, f"{len(differ)} of {len(files)} files differ: {differ}"
    weights = [f for f in files if f.endswith(".safetensors")]
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in weights)
