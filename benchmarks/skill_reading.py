"""Does a tiny base read the pictures of the general questions it was trained on?

Usage: python benchmarks/skill_reading.py BASE_DIR [--items 100] [--swaps 40] [--task Colour]

``BASE_DIR`` is a base built with skill rows (``runs/<profile>/base-...``, holding ``pretrain/model`` and
``pretrain/skills-s<seed>-n<items>``). Prints the base's accuracy per task type on the first ``--items``
skill items it was trained on (each option scored as the whole reply, as ``omnibench.mode: option``), then,
for the first ``--swaps`` items of ``--task``, how many answers change when each item's picture is swapped
for the next item's: a language model that reads the picture changes most of them.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from emoomni.data import omnibench
from emoomni.evaluate.omnibench import accuracy_by_task, answer_questions
from emoomni.model import load_omni


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--swaps", type=int, default=40)
    ap.add_argument("--task", default="Colour")
    args = ap.parse_args()
    root = next((args.base / "pretrain").glob("skills-s*-n*"), None)
    if root is None:
        raise SystemExit(f"{args.base} was built without skill rows (no pretrain/skills-s*-n*)")
    items = omnibench.index(root)[0]
    net, processor = load_omni(args.base / "pretrain" / "model")

    def answers(chosen, name):
        """The likeliest option of each item (``omnibench.mode: option``), cached beside the base."""
        return answer_questions(net, processor, chosen, root, args.base / "pretrain" / f"skill-reading-{name}.jsonl",
                                batch_size=8, mode="option")

    print(accuracy_by_task(answers(items[: args.items], str(args.items))).to_string())
    chosen = [i for i in items if i.task_type == args.task][: args.swaps]
    own = answers(chosen, f"{args.task}-{args.swaps}")
    swapped = answers([replace(i, image=j.image) for i, j in zip(chosen, chosen[1:] + chosen[:1])],
                      f"{args.task}-{args.swaps}-swapped")
    print(f"{args.task}: right with its own picture on {sum(a['correct'] for a in own)} of {len(chosen)}; answer "
          f"changed by another item's picture on {sum(a['choice'] != b['choice'] for a, b in zip(own, swapped))}")


if __name__ == "__main__":
    main()
