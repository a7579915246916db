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
    """Index a local copy: exit 0 with a manifest, 1 when nothing is kept, 2 for a layout or option error."""
    import traceback

    from emoomni.data import adapters

    given = {dest: getattr(args, dest) for dest in adapters.OPTIONS if getattr(args, dest, None) is not None}
    if bad := adapters.unread(args.dataset, given):
        reads = ", ".join(adapters.flags(args.dataset)) or "no option"
        print(f"emoomni data index: error: {args.dataset} does not read {', '.join(bad)} (it reads {reads})",
              file=sys.stderr)
        return 2
    try:
        records, report = adapters.index(args.dataset, args.root, **given)
    except (ValueError, OSError) as e:  # DataLayoutError, an option's value, an unreadable file
        if args.verbose:
            traceback.print_exc()
        print(f"emoomni data index: error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    if not records:
        print(f"emoomni data index: no sample kept; {args.out} not written", file=sys.stderr)
        return 1
    adapters.write(args.dataset, records, args.out)
    print(f"manifest: {args.out}")
    return 0


def _index_parser(data: argparse._SubParsersAction) -> None:
    """``data index DATASET ROOT --out FILE`` with every adapter option as a flag."""
    from emoomni.data.adapters import ADAPTERS, OPTIONS, describe

    i = data.add_parser(
        "index", help="index a local copy of a benchmark into a manifest, with a skip report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="data sets, where ROOT may point, and the options each reads:\n" + describe()
        + "\n\nexit status: 0 manifest written, 1 no sample kept (nothing written), 2 a missing root or folder,"
          "\na missing column, a truncated label file, or an option the data set does not read.")
    i.add_argument("dataset", choices=list(ADAPTERS))
    i.add_argument("root", type=Path, help="the data set's root directory")
    i.add_argument("--out", type=Path, required=True, help="manifest JSONL to write")
    for dest, o in OPTIONS.items():
        i.add_argument(o.flag, dest=dest, type=o.type, choices=o.choices, metavar=o.metavar, help=o.help)
    i.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="log at INFO level and show the traceback of an error")
    i.set_defaults(func=_index)


def _omnicot(args: argparse.Namespace) -> int:
    from emoomni import config, stages

    overrides = {f"omnicot.{m}.backend": getattr(args, m) for m in ("vision", "audio", "dialogue", "verifier")
                 if getattr(args, m)}
    params = config.load(args.profile, **overrides)
    result, samples, _ = stages.omnicot(params)
    print(json.dumps({"samples": len(samples), "kept": len(result.records), "errors": len(result.errors),
                      "computed": result.computed, "out": str(result.out_dir)}, indent=1))
    return 0


def _params(args: argparse.Namespace, **overrides):
    """The profile with the non-None overrides applied."""
    from emoomni import config

    return config.load(args.profile, **{k: v for k, v in overrides.items() if v is not None})


def _model_path(args: argparse.Namespace, params) -> Path | str:
    """The model a command names: the base, an SFT adapter (``--style``) or a GRPO adapter (``--alpha``)."""
    from emoomni import stages

    if args.model == "base":
        return stages.base_model(params)
    if args.model == "sft":
        return stages.sft_model(params, args.style)
    return stages.grpo_model(params, args.alpha)


def _sft(args: argparse.Namespace) -> int:
    from emoomni import stages

    params = _params(args, **{"sft.settings.max_steps": args.max_steps, "sft.settings.seed": args.seed})
    print(stages.sft_model(params, args.style))
    return 0


def _grpo(args: argparse.Namespace) -> int:
    from emoomni import stages

    params = _params(args, **{"grpo.settings.max_steps": args.max_steps, "grpo.settings.seed": args.seed})
    print(stages.grpo_model(params, args.alpha))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from emoomni import stages
    from emoomni.evaluate.registry import available, get

    params = _params(args)
    model = _model_path(args, params)
    for name in args.benchmark:
        if not available(get(name)):
            print(json.dumps({"benchmark": name, "available": False}))
            continue
        r = stages.evaluation(model, name, params)
        print(json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in r.items() if k != "predictions"}))
    return 0


def _ablation(args: argparse.Namespace) -> int:
    from emoomni.ablation import run_notebooks, sweep

    params = _params(args)
    alphas = args.alphas or list(params.study.alphas)
    if args.notebooks:
        for path in run_notebooks(args.profile, alphas, args.notebooks):
            print(path)
    print(sweep(params, alphas, args.benchmark).drop(columns="adapter").round(2).to_string())
    return 0


def _study(args: argparse.Namespace) -> int:
    from emoomni import ablation
    from emoomni.evaluate import seed_study
    from emoomni.report.collapse import signature_table, signatures_sentence

    params = _params(args, **{"study.seeds": args.seeds, "study.rmod_sites": args.sites,
                              "study.rmod_orders": args.orders})
    print(f"# {args.profile}: seeds {', '.join(map(str, params.study.seeds))}")
    if "signature" in args.parts:
        sigs = ablation.signatures(params)
        print("\n## The collapse signature of label-only SFT\n")
        print(signature_table(sigs).to_markdown(), "\n", signatures_sentence(sigs), sep="\n")
    parts = {"collapse": ("The four arms", ablation.collapse_study, ablation.chain_pairs, "clips"),
             "rmod": ("The entropy sites", ablation.rmod_study, ablation.rmod_pairs, "clips"),
             "skills": ("General ability (SynthBench accuracy)", ablation.skills_study, ablation.first_pairs, "items")}
    for part, (title, study, pairs, unit) in parts.items():
        if part not in args.parts:
            continue
        outcomes = study(params)
        compared = pairs(list(outcomes))
        print(f"\n## {title}\n")
        print(seed_study.table(outcomes).to_markdown(), seed_study.per_seed(outcomes, params.study.seeds).to_markdown(),
              seed_study.differences_table(outcomes, compared).to_markdown(),
              "\n".join(seed_study.verdicts(outcomes, compared, unit)), sep="\n\n")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import tempfile

    from emoomni.data.manifest import Sample
    from emoomni.evaluate.predict import predict
    from emoomni.evaluate.registry import load_model
    from emoomni.media import MediaError, probe

    clip = Path(args.clip).resolve()
    try:
        info = probe(clip)
    except (MediaError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    params = _params(args)
    sample = Sample(clip.stem, "cli", "test", video=clip.name if info.has_video else None,
                    audio=None if info.has_video else clip.name, transcript=args.transcript, label=None)
    net, processor = load_model(_model_path(args, params))
    with tempfile.TemporaryDirectory() as tmp:
        [pred] = predict(net, processor, [sample], clip.parent, params.omnicot.label_set, Path(tmp) / "p.jsonl",
                         batch_size=1, max_new_tokens=params.eval.max_new_tokens,
                         include_transcript=args.transcript is not None)
    print(pred.text)
    print(f"\nanswer: {pred.answer}  (valid OmniCoT trace: {pred.valid_format})")
    for m, st in pred.stats.items():
        print(f"{m}: " + (f"H = {st['entropy']:.4f} nats, p = {st['prob']:.4f}" if st else "guided token not generated"))
    return 0


def _stages_up_to(args: argparse.Namespace) -> float | None:
    """``--stages-up-to``: 0 for no limit; unset, 3 s on a CPU (the 12 s clip's stages alone take 10 minutes there)."""
    if args.stages_up_to is None:
        return None if args.device.startswith("cuda") else 3.0
    return args.stages_up_to or None


def _rehearse(args: argparse.Namespace) -> int:
    """Qwen2.5-Omni-7B's shapes through SFT, GRPO and prediction at a reduced depth, then the costed plan."""
    from emoomni import paper_plan
    from emoomni.rehearsal import rehearse, table

    width, height = (int(x) for x in args.size.lower().split("x"))
    result = rehearse(args.depth, seconds=args.seconds, width=width, height=height, stages=args.stages,
                      dtype=args.dtype, device=args.device, num_generations=args.generations,
                      completion=args.completion, profile=args.profile, progress=print,
                      stages_up_to=_stages_up_to(args))
    print(table(result))
    rows = paper_plan.plan(frame=(height, width))
    print("\nplan for 4 x A100 80 GB (emoomni.paper_plan; assumptions in its PlanInputs):")
    print(paper_plan.plan_table(rows))
    if args.json:
        data = {"rehearsal": result.to_dict(), "plan": [vars(r) for r in rows],
                "plan_inputs": paper_plan.inputs_dict()}
        Path(args.json).write_text(json.dumps(data, indent=1))
        print(f"written: {args.json}")
    return 0 if all(all(c.checks.values()) for c in result.clips) else 1


def _model_options(p: argparse.ArgumentParser) -> None:
    """--profile, --model, --style and --alpha, shared by the commands that use a trained model."""
    p.add_argument("--profile", default="default", help="params/<profile>.yaml (default: %(default)s)")
    p.add_argument("--model", choices=("base", "sft", "grpo"), default="grpo", help="which model (default: %(default)s)")
    p.add_argument("--style", default="omnicot", help="SFT target style for --model sft (default: %(default)s)")
    p.add_argument("--alpha", type=float, help="GRPO alpha for --model grpo (default: the profile's)")


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
    _index_parser(data)

    o = sub.add_parser("omnicot", help="build the OmniCoT SFT set").add_subparsers(dest="omnicot_command", required=True)
    b = o.add_parser("build", help="evidence extraction, verification, records and exports (cached, resumable)")
    b.add_argument("--profile", default="default")
    for m in ("vision", "audio", "dialogue", "verifier"):
        b.add_argument(f"--{m}", help=f"override the {m} backend")
    b.set_defaults(func=_omnicot)

    t = sub.add_parser("sft", help="cold-start SFT in one target style (cached, resumable); prints the adapter path")
    t.add_argument("--profile", default="default")
    t.add_argument("--style", default=None, help="label, freeform, omnicot_nogt or omnicot (default: the profile's)")
    t.add_argument("--max-steps", type=int, help="override the number of optimizer steps")
    t.add_argument("--seed", type=int, help="override the SFT seed")
    t.set_defaults(func=_sft)

    g = sub.add_parser("grpo", help="DyME-GRPO from the SFT OmniCoT model (alpha 0: vanilla GRPO); prints the adapter")
    g.add_argument("--profile", default="default")
    g.add_argument("--alpha", type=float, help="weight of the modality-entropy reward (default: the profile's)")
    g.add_argument("--max-steps", type=int, help="override the number of optimizer steps")
    g.add_argument("--seed", type=int, help="override the GRPO seed")
    g.set_defaults(func=_grpo)

    e = sub.add_parser("eval", help="evaluate a model on registered benchmarks (cached); prints one JSON line each")
    _model_options(e)
    e.add_argument("--benchmark", nargs="+", default=["synthemo"], help="benchmark names (emoomni.evaluate.registry)")
    e.set_defaults(func=_eval)

    a = sub.add_parser("ablation", help="the alpha ablation: DyME-GRPO per alpha, evaluated on one benchmark")
    a.add_argument("--profile", default="default")
    a.add_argument("--alphas", type=float, nargs="+", help="alpha values (default: the profile's study.alphas)")
    a.add_argument("--benchmark", default="synthemo")
    a.add_argument("--notebooks", type=Path, help="also execute notebook 05 per alpha into this directory")
    a.set_defaults(func=_ablation)

    t = sub.add_parser("study", help="the seed study: the collapse signature, the four arms, the entropy sites and "
                                     "general ability over seeds, as tables with 95 %% intervals and generated "
                                     "verdicts (cached)")
    t.add_argument("--profile", default="default", help="params/<profile>.yaml; study: five seeds (default: default)")
    t.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the profile's study.seeds)")
    t.add_argument("--sites", nargs="+", choices=("emitted", "following", "section"),
                   help="entropy sites of the R_mod study (default: the profile's study.rmod_sites)")
    t.add_argument("--orders", nargs="+", choices=("fixed", "free"),
                   help="trace orders of the R_mod study (default: the profile's study.rmod_orders)")
    t.add_argument("--parts", nargs="+", choices=("signature", "collapse", "rmod", "skills"),
                   default=["signature", "collapse", "rmod", "skills"], help="what to compute and print (default: all)")
    t.set_defaults(func=_study)

    h = sub.add_parser("rehearse", help="run a profile's code path at Qwen2.5-Omni-7B's real shapes (reduced depth) "
                                         "and print the costed plan")
    h.add_argument("profile", choices=("paper",), help="the profile rehearsed")
    h.add_argument("--depth", default="1", help="layers per tower and in the language model, or 'full' (default: 1)")
    h.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    h.add_argument("--dtype", default="auto", help="weights' dtype; auto: bfloat16 on cuda and on CPUs with native "
                                                 "bfloat16 (AVX-512 BF16 or AMX), float32 on others (default: auto)")
    h.add_argument("--seconds", type=float, nargs="+", default=[3.0, 12.0, 40.0], help="clip lengths (default: 3 12 40)")
    h.add_argument("--size", default="640x360", help="source frame WIDTHxHEIGHT, resized as the 7B reads video "
                                                      "(default: %(default)s)")
    h.add_argument("--stages", nargs="+", default=["sft", "grpo", "predict"], choices=("sft", "grpo", "predict"))
    h.add_argument("--stages-up-to", type=float, metavar="SECONDS",
                   help="run the stages only on clips up to this long; longer ones get the token and layout checks "
                        "(default: 3 on a CPU, where the 12 s clip's stages take 10 minutes; no limit on cuda; 0: no limit)")
    h.add_argument("--generations", type=int, default=2, help="GRPO completions (default: %(default)s)")
    h.add_argument("--completion", type=int, default=32, help="tokens per completion (default: %(default)s)")
    h.add_argument("--json", help="also write the measurements and the plan as one JSON object to this file")
    h.set_defaults(func=_rehearse)

    r = sub.add_parser("predict", help="print a model's trace, answer and guided-token entropies for one clip")
    r.add_argument("clip", help="a video (its audio track is heard) or an audio file")
    r.add_argument("--transcript", help="what is said in the clip (shown to the model, delimited)")
    _model_options(r)
    r.set_defaults(func=_predict)
    return p


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``emoomni`` command."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
