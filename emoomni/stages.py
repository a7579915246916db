"""Each stage of the book as one cached call: results live under ``runs/<profile>/`` beside their config."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from emoomni.config import Params, stage_hash
from emoomni.data.manifest import Sample
from emoomni.data.synthemo import generate
from emoomni.paths import runs_dir

log = logging.getLogger(__name__)


def synthemo_dir(params: Params) -> Path:
    """Where a profile's SynthEmo set lives: keyed by the hash of everything that decides its content."""
    s = params.synthemo
    key = stage_hash(type(s)(n_clips=s.n_clips, seed=s.seed, clip=s.clip))
    return runs_dir(params.profile) / f"synthemo-{key}"


def synthemo_set(params: Params) -> tuple[list[Sample], Path]:
    """Generate (or reuse) the profile's SynthEmo set; returns its samples and data root."""
    s = params.synthemo
    root = synthemo_dir(params)
    if (root / "manifest.jsonl").exists():
        log.info("SynthEmo: reusing %s", root)
    samples = generate(root, s.n_clips, s.seed, s.clip, workers=s.workers)
    (root / "params.json").write_text(json.dumps(params.snapshot()["synthemo"], indent=1, sort_keys=True, default=str))
    return samples, root


def synthemo_separability(params: Params) -> dict:
    """The separability check on the first ``separability_clips`` clips, cached beside the set."""
    from emoomni.data.synthemo.check import separability

    samples, root = synthemo_set(params)
    n = min(params.synthemo.separability_clips, len(samples))
    path = root / f"separability-{n}.json"
    if path.exists():
        log.info("separability: reusing %s", path)
        return load_separability(path)
    result = separability(samples[:n], root)
    data = {
        "n": result["n"],
        "cv": {k: {"accuracy": v["accuracy"], "per_class": v["per_class"].to_dict()} for k, v in result["cv"].items()},
        "fer": result["fer"].to_dict(),
    }
    path.write_text(json.dumps(data, indent=1))
    return load_separability(path)


def load_separability(path: Path) -> dict:
    """Read a stored separability result back, with its tables as frames."""
    data = json.loads(Path(path).read_text())
    for v in data["cv"].values():
        v["per_class"] = pd.DataFrame(v["per_class"]).fillna(0).astype(int)
    data["fer"] = pd.DataFrame(data["fer"]).fillna(0).astype(int)
    return data
