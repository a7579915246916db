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
from pathlib import Path

import torch

from emoomni.data import omnibench
from emoomni.evaluate.omnibench import accuracy_by_task, answer_questions
from emoomni.model import load_omni
from emoomni.model.inputs import reply_log_probs


def likeliest(net, processor, item, root: Path, picture: str) -> str:
    """The option whose text, as the whole reply, has the highest mean log-probability per token, with ``picture``."""
    chat = omnibench.question_messages(item, root)
    chat[1]["content"][0]["image"] = picture
    scores, n = reply_log_probs(net, processor, [[*chat, {"role": "assistant", "content": [{"type": "text", "text": o}]}]
                                                for o in item.options])
    return item.options[int(torch.argmax(scores / n))]


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
    out = args.base / "pretrain" / f"skill-reading-{args.items}.jsonl"
    print(accuracy_by_task(answer_questions(net, processor, items[: args.items], root, out, batch_size=8,
                                            max_new_tokens=8, mode="option")).to_string())
    chosen = [i for i in items if i.task_type == args.task][: args.swaps]
    pictures = [omnibench.question_messages(i, root)[1]["content"][0]["image"] for i in chosen]
    own = [likeliest(net, processor, i, root, p) for i, p in zip(chosen, pictures)]
    swapped = [likeliest(net, processor, i, root, p) for i, p in zip(chosen, pictures[1:] + pictures[:1])]
    print(f"{args.task}: right with its own picture on {sum(a == i.answer for a, i in zip(own, chosen))} of "
          f"{len(chosen)}; answer changed by another item's picture on {sum(a != b for a, b in zip(own, swapped))}")


if __name__ == "__main__":
    main()
