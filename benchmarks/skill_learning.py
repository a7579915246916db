"""Can the tiny base's language model learn to answer general questions about pictures and sounds at all?

Usage: python benchmarks/skill_learning.py [--profile default] [--items 1500] [--task REGEX] [--epochs 2]
                                           [--lr 3e-3] [--train-vision] [--replay 0] [--perception 0]

Continues the profile's tiny base as it is before any skill phase (built or reused) on SynthBench-style skill rows alone (``--items`` items of
seed 1000, the task types matching ``--task``, answered with the option text), its towers frozen unless
``--train-vision``, with ``--replay`` of the base's own description clips mixed in, then prints:

- the held-out SynthBench accuracy per task type (``omnibench.mode: option``), before and after;
- on the held-out items of ``--swap-task`` (default Colour), how many answers change when each item's
  picture is swapped for the next one's: a model that reads the picture changes most of them;
- per layer of the language model, the share of the last prompt position's attention on the picture,
  the sound and the text (mean over the first eight held-out items and over heads), before and after;
- with ``--perception N``, the face, voice and words cue recognition on the first N test clips
  (:func:`emoomni.stages.base_perception`'s measure), before and after: what the skills cost perception.

This separates the language model's reading from the towers': ``stages.tower_probes`` and the encoder
phase's own probes say what the towers' tokens hold. The trained model is cached under
``runs/<profile>/skill-learning/``.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from emoomni import config, stages
from emoomni.data import omnibench
from emoomni.evaluate.omnibench import accuracy_by_task, answer_questions
from emoomni.evaluate.trace_analysis import eager_text_attention
from emoomni.model import load_omni
from emoomni.model.inputs import omni_inputs
from emoomni.paths import profile_runs
from emoomni.train.collator import chat_row
from emoomni.train.pretrain import PretrainSettings, cue_recognition, description_messages, skill_rows, train_full


def attention_by_layer(net, processor, items, root) -> np.ndarray:
    """Per layer, the last prompt position's attention share on picture, sound and text tokens (mean over items, heads)."""
    cfg = net.config
    shares = []
    with eager_text_attention(net), torch.no_grad():
        for item in items:
            x = omni_inputs(processor, [omnibench.question_messages(item, root)], add_generation_prompt=True)
            ids = x["input_ids"][0]
            kinds = [ids == cfg.image_token_index, ids == cfg.audio_token_index]
            kinds.append(~(kinds[0] | kinds[1]))
            out = net(**{k: v for k, v in x.items() if k != "use_audio_in_video"}, output_attentions=True)
            shares.append([[float(a[0, :, -1][:, k].sum(-1).mean()) for k in kinds] for a in out.attentions])
    return np.mean(shares, axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--items", type=int, default=1500, help="skill items of seed 1000 to draw the rows from")
    ap.add_argument("--task", default=".", help="regex on the task type of the rows kept (default: all)")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--train-vision", action="store_true", help="train the vision tower too (the audio tower stays frozen)")
    ap.add_argument("--swap-task", default="Colour")
    ap.add_argument("--replay", type=int, default=0, help="the base's own description clips mixed into the rows")
    ap.add_argument("--perception", type=int, default=0, help="test clips to measure cue recognition on, before and after")
    args = ap.parse_args()

    params = config.load(args.profile, **{"base.pretrain.skill_phase_epochs": 0.0})  # the descriptions' model
    base = Path(stages.base_model(params))
    work = profile_runs(params) / "skill-learning"
    root = stages.base_pretrain_dir(params) / f"skills-s1000-n{args.items}"
    if not root.exists():
        root = work / f"skills-s1000-n{args.items}"
    rows = skill_rows(root, args.items, 1000, answer="option")
    types = [i.task_type for i in omnibench.index(root)[0][: args.items]]
    rows = [r for r, t in zip(rows, types) if re.search(args.task, t)]
    if not rows:
        raise SystemExit(f"no skill item's task type matches {args.task!r}")
    samples, data_root = stages.synthemo_set(stages.pretrain_params(params))
    clips = [x for x in samples if x.split == params.base.pretrain.split][: args.replay]
    rows += [chat_row(x.id, description_messages(x, data_root)) for x in clips]
    tag = re.sub(r"\W+", "_", args.task).strip("_") or "all"
    out = work / (f"{tag}-n{args.items}-e{args.epochs:g}-lr{args.lr:g}{'-vision' if args.train_vision else ''}"
                  + (f"-replay{len(clips)}" if clips else ""))
    settings = PretrainSettings(learning_rate=args.lr, epochs=args.epochs, save_steps=10**6)
    model = train_full(base, rows, out, settings, "skill learning", ("audio",) if args.train_vision else ("vision", "audio"))
    print(f"trained on {len(rows) - len(clips)} skill rows and {len(clips)} description clips: {model}")

    items, bench_root = stages.omnibench_items(params)
    chosen = [i for i in items if i.task_type == args.swap_task]
    test = [x for x in samples if x.split == params.eval.split][: args.perception]
    for name, path in (("base", base), ("after", model)):
        net, processor = load_omni(path)
        if test:
            read = (stages.base_perception(params, len(test)).to_dict("index") if name == "base"
                    else cue_recognition(net, processor, test, data_root))
            print(f"{name}: cue recognition on {len(test)} test clips: "
                  + ", ".join(f"{m} {100 * r['accuracy']:.1f} %" for m, r in read.items()))

        def answers(batch, what):
            """Option-text answers of ``batch``, cached beside the trained model."""
            return answer_questions(net, processor, batch, bench_root, out / f"{name}-{what}.jsonl", batch_size=8,
                                    mode="option")

        table = accuracy_by_task(answers(items, "synthbench"))
        print(f"{name}: SynthBench {100 * table.loc['overall', 'accuracy']:.0f} % of {table.loc['overall', 'n']}; "
              + ", ".join(f"{k} {int(r.correct)}/{int(r.n)}" for k, r in table.drop("overall").iterrows()))
        own = answers(chosen, args.swap_task)
        swapped = answers([replace(i, image=j.image) for i, j in zip(chosen, chosen[1:] + chosen[:1])],
                          f"{args.swap_task}-swapped")
        changed = sum(a["choice"] != b["choice"] for a, b in zip(own, swapped))
        print(f"{name}: {args.swap_task} answers changed by another item's picture: {changed} of {len(chosen)}")
        for layer, (picture, sound, text) in enumerate(attention_by_layer(net, processor, items[:8], bench_root)):
            print(f"{name}: layer {layer}: last position's attention on the picture {picture:.3f}, "
                  f"the sound {sound:.3f}, the text {text:.3f}")


if __name__ == "__main__":
    main()
