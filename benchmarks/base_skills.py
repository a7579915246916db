"""The tiny base's perception and general skills under a profile and overrides: what a pre-training change buys.

Usage: python benchmarks/base_skills.py [--profile default] [--set KEY=VALUE ...]

Builds (or reuses) the profile's tiny base, then prints the time the build took, the base's cue
recognition on the first 120 clips of the evaluation split (``--clips``) (:func:`emoomni.stages.base_perception`), its
SynthBench accuracy overall and per task type (:func:`emoomni.stages.omnibench_answers`, by the profile's
``omnibench.mode``) and what the encoder phase's probes read on held-out items (``encoders.json``). Each
``--set`` is a dotted key and a YAML value, for example (the audio tower learns the skill items' sounds,
1,500 skill rows answered with the option text, SynthBench read by the likeliest option)::

    python benchmarks/base_skills.py --set base.pretrain.skill_items=1500 --set base.pretrain.skill_answer=option \\
        --set "base.pretrain.encoders.skills=[audio]" --set omnibench.mode=option
"""

from __future__ import annotations

import argparse
import json
import time

import yaml

from emoomni import config, stages
from emoomni.evaluate.omnibench import accuracy_by_task


def overrides(pairs: list[str]) -> dict:
    """``KEY=VALUE`` strings as config overrides, each value read as YAML.

    >>> overrides(["base.seed=3", "base.pretrain.encoders.skills=[audio]", "omnibench.mode=option"])
    {'base.seed': 3, 'base.pretrain.encoders.skills': ['audio'], 'omnibench.mode': 'option'}
    """
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set wants KEY=VALUE, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a dotted override (YAML value)")
    ap.add_argument("--clips", type=int, default=120, help="evaluation clips the cue recognition reads (default 120)")
    args = ap.parse_args()
    params = config.load(args.profile, **overrides(args.set))
    start = time.perf_counter()
    base = stages.base_model(params)
    print(f"base: {base} ({time.perf_counter() - start:.0f} s, 0 if it was reused)")
    print(stages.base_perception(params, args.clips).to_string())
    table = accuracy_by_task(stages.omnibench_answers(params, base))
    print(f"SynthBench ({params.omnibench.mode}): {100 * table.loc['overall', 'accuracy']:.0f} % of "
          f"{table.loc['overall', 'n']}; " + ", ".join(f"{k} {int(r.correct)}/{int(r.n)}" for k, r in table.drop("overall").iterrows()))
    probes = stages.base_pretrain_dir(params) / "encoders" / "model" / "encoders.json"
    if probes.exists():
        for tower, result in json.loads(probes.read_text())["probes"].items():
            print(f"encoder probe, {tower}: {json.dumps(result['held_out_accuracy'])}")


if __name__ == "__main__":
    main()
