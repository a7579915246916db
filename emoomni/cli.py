"""The ``emoomni`` command: one subcommand per stage of the book."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def _check(args: argparse.Namespace) -> int:
    from emoomni.check import check

    problems = check(args.params)
    for p in problems:
        print(p)
    errors = [p for p in problems if p.level == "error"]
    print(f"{args.params}: {'ready' if not errors else f'{len(errors)} problem(s) to fix'}"
          + (f", {len(problems) - len(errors)} note(s)" if len(problems) > len(errors) else ""))
    return 1 if errors else 0


def _synthemo(args: argparse.Namespace) -> int:
    from emoomni import config, stages

    overrides = {k: v for k, v in {"synthemo.n_clips": args.clips, "synthemo.seed": args.seed,
                                   "synthemo.workers": args.workers}.items() if v is not None}
    params = config.load(args.profile, **overrides)
    samples, root = stages.synthemo_set(params)
    print(f"{len(samples)} clips in {root}")
    return 0


def _index(args: argparse.Namespace) -> int:
    import importlib

    from emoomni.data.manifest import write_manifest

    module = importlib.import_module(f"emoomni.data.{args.dataset}")
    samples, report = module.index(args.root)
    write_manifest(samples, args.out)
    print(report.summary())
    print(f"manifest: {args.out}")
    return 0


def _omnicot(args: argparse.Namespace) -> int:
    from emoomni import config, stages

    overrides = {f"omnicot.{m}.backend": getattr(args, m) for m in ("vision", "audio", "dialogue", "verifier")
                 if getattr(args, m)}
    params = config.load(args.profile, **overrides)
    result, samples, _ = stages.omnicot(params)
    print(json.dumps({"samples": len(samples), "kept": len(result.records), "errors": len(result.errors),
                      "computed": result.computed, "out": str(result.out_dir)}, indent=1))
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser, with a subcommand per stage."""
    p = argparse.ArgumentParser(prog="emoomni", description="EmoOmni, reproduced: OmniCoT, cold-start SFT and DyME-GRPO.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="validate a profile without GPUs or weights")
    c.add_argument("params", help="a profile name (default, smoke, paper) or a path to a YAML file")
    c.set_defaults(func=_check)

    data = sub.add_parser("data", help="generate SynthEmo or index a local copy of a data set").add_subparsers(
        dest="data_command", required=True)
    s = data.add_parser("synthemo", help="generate (or reuse) the profile's SynthEmo set")
    s.add_argument("--profile", default="default")
    s.add_argument("--clips", type=int, help="override synthemo.n_clips")
    s.add_argument("--seed", type=int, help="override synthemo.seed")
    s.add_argument("--workers", type=int, help="parallel worker processes")
    s.set_defaults(func=_synthemo)
    i = data.add_parser("index", help="index a local copy of a benchmark into a manifest, with a skip report")
    i.add_argument("dataset", choices=["ravdess", "iemocap", "meld", "mer", "dfew"])
    i.add_argument("root", type=Path, help="the data set's root directory")
    i.add_argument("--out", type=Path, required=True, help="manifest JSONL to write")
    i.set_defaults(func=_index)

    o = sub.add_parser("omnicot", help="build the OmniCoT SFT set").add_subparsers(dest="omnicot_command", required=True)
    b = o.add_parser("build", help="evidence extraction, verification, records and exports (cached, resumable)")
    b.add_argument("--profile", default="default")
    for m in ("vision", "audio", "dialogue", "verifier"):
        b.add_argument(f"--{m}", help=f"override the {m} backend")
    b.set_defaults(func=_omnicot)
    return p


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``emoomni`` command."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
