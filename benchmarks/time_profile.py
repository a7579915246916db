"""Profile where the time goes, per stage and per kind of work: from a build on disk, or on a live slice.

Usage: python benchmarks/time_profile.py --runs runs/default [--timings book/executed/timings.json] [--json FILE]
       python benchmarks/time_profile.py --measure [--clips 8] [--max-new-tokens 192] [--repeats 3] [--no-startup]
                                         [--json FILE]

``--runs`` reads what a build left under ``runs/<profile>/`` and measures nothing:

- every ``train_state.json`` (written by :func:`emoomni.train.runs.run_training`): the run's
  ``train_runtime``, the trainer's wall time of its last ``train()`` call (a resumed run counts only the part
  after the resume; collation, evaluation losses and checkpoint saving included). A GRPO run's
  ``log_history.csv`` gives the statistics pass (the sum of ``dyme/stats_seconds``, exact with
  ``logging_steps`` 1, the default), taken out of its training steps, which include the rollouts' generation;
- the base's encoder phase (``encoders.json``, ``seconds``: the whole phase, faces rendered and towers trained);
- every predictions file (JSONL records with ``generate_seconds``): summed generation, statistics pass and,
  from ``seconds``, the rest of each batch (media decoding, preprocessing and bookkeeping);
- ``book/executed/timings.json`` (beside ``runs/``, or ``--timings``): each notebook's wall time for that profile,
  shown apart, since the records above happen inside the notebooks.

Stages are named from the run directories (``base-``, ``sft-``, ``grpo-``, ``eval/``, ``ablations-``). What a
build records nothing for (SynthEmo, the OmniCoT build, OmniBench answers, model loading, the reports) shows
only in the notebook times.

``--measure`` builds the tiny thinker and ``--clips`` SynthEmo clips in a temporary directory and times, after
a warm-up, ``--repeats`` times each (the mean is printed, as seconds and share of its stage):

- one prediction batch: media decoding (:func:`emoomni.model.inputs.load_video` / ``load_audio``), the
  processor's preprocessing (the rest of :func:`emoomni.model.omni_inputs`), the encoders' forward
  (``get_video_features`` / ``get_audio_features``, timed wherever the model calls them), generation (greedy,
  ``--max-new-tokens``; the random model never stops) and the statistics pass
  (:func:`emoomni.model.guided_stats.completion_stats`) over each clip's OmniCoT trace composed from its cues, as a
  trained model would emit it (the random model's own completions hold no guided token to score);
- one LoRA SFT step through TRL's trainer: the collator (decoding, preprocessing) and the step (forward, backward,
  optimizer), the encoders' forward again timed apart;
- notebook start-up: a Jupyter kernel starting, and a notebook's first cell importing the library.

Each kind is timed exclusively (a stage's rows add up to its total): the encoders' time is taken out of the
generation, statistics pass and training step that call them, the decoding out of preprocessing.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

STAGES = {"sft": "SFT", "grpo": "GRPO", "eval": "evaluation", "ablations": "modality ablation"}
"""Stage names by the first word of a run directory under ``runs/<profile>/`` (the base's are named by phase)."""

ORDER = ("base: encoders", "base: language", "base: descriptions", "SFT", "GRPO", "evaluation", "modality ablation")
"""The book's order of the stages :func:`collect` names; any other comes after them."""


@dataclass(frozen=True)
class Record:
    """Seconds of one kind of work in one stage, and where the number came from."""

    stage: str
    kind: str
    seconds: float
    source: str = ""


@dataclass(frozen=True)
class Row:
    """A table row: a stage's (or every stage's) seconds of one kind and its shares."""

    stage: str
    kind: str
    seconds: float
    share_of_stage: float
    share_of_total: float
    n: int
    """How many records were summed."""


def aggregate(records: Iterable[Record]) -> list[Row]:
    """Sum records per (stage, kind), stages and kinds in first-seen order, with each row's share of its stage
    and of all the records (NaN when the denominator is 0).

    >>> rows = aggregate([Record("SFT", "training steps", 3.0), Record("evaluation", "generation", 4.0),
    ...                   Record("SFT", "training steps", 1.0), Record("evaluation", "statistics pass", 2.0)])
    >>> for r in rows:
    ...     print(r.stage, r.kind, r.seconds, round(r.share_of_stage, 2), round(r.share_of_total, 2), r.n)
    SFT training steps 4.0 1.0 0.4 2
    evaluation generation 4.0 0.67 0.4 1
    evaluation statistics pass 2.0 0.33 0.2 1
    """
    sums: dict[tuple[str, str], list[float]] = {}
    for r in records:
        sums.setdefault((r.stage, r.kind), []).append(r.seconds)
    per_stage: dict[str, float] = {}
    for (stage, _), values in sums.items():
        per_stage[stage] = per_stage.get(stage, 0.0) + sum(values)
    total = sum(per_stage.values())
    share = lambda x, d: x / d if d else math.nan  # noqa: E731
    order = list(per_stage)
    rows = [Row(stage, kind, sum(v), share(sum(v), per_stage[stage]), share(sum(v), total), len(v))
            for (stage, kind), v in sums.items()]
    return sorted(rows, key=lambda r: order.index(r.stage))


def by_kind(rows: Sequence[Row]) -> list[Row]:
    """The rows summed over stages, per kind (stage ``all``), largest first.

    >>> rows = aggregate([Record("a", "x", 1.0), Record("b", "x", 2.0), Record("b", "y", 5.0)])
    >>> [(r.kind, r.seconds, r.share_of_total, r.n) for r in by_kind(rows)]
    [('y', 5.0, 0.625, 1), ('x', 3.0, 0.375, 2)]
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for r in rows:
        sums[r.kind], counts[r.kind] = sums.get(r.kind, 0.0) + r.seconds, counts.get(r.kind, 0) + r.n
    total = sum(sums.values())
    return sorted((Row("all", k, v, v / total if total else math.nan, v / total if total else math.nan, counts[k])
                   for k, v in sums.items()), key=lambda r: -r.seconds)


# --- --runs: what a build left on disk -------------------------------------------------------------------------


def stage_of(rel: Path) -> str:
    """The stage a file under ``runs/<profile>/`` belongs to, from its run directory (and the base's phase).

    >>> stage_of(Path("base-synthemo-x-tiny4-y/pretrain/language/train_state.json"))
    'base: language'
    >>> stage_of(Path("sft-omnicot-omnicot-x-y/train_state.json")), stage_of(Path("eval/synthemo/m/predictions.jsonl"))
    ('SFT', 'evaluation')
    """
    word = rel.parts[0].split("-")[0]
    if word == "base":
        phase = next((p for p in ("encoders", "language") if p in rel.parts[:-1]), "descriptions")
        return f"base: {phase}"
    return STAGES.get(word, word)


def _jsonl(path: Path) -> Iterator[dict]:
    """The records of a JSONL file; a torn last line (a killed run) is skipped."""
    with path.open() as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def _is_predictions(path: Path) -> bool:
    """Whether a JSONL file holds prediction records (its first record has ``generate_seconds``)."""
    with path.open() as f:
        first = f.readline()
    try:
        return isinstance(record := json.loads(first), dict) and "generate_seconds" in record
    except json.JSONDecodeError:
        return False


def _logged_sum(csv_path: Path, column: str) -> float:
    """The sum of one column of a trainer's ``log_history.csv`` (0 when the file or column is missing)."""
    if not csv_path.exists():
        return 0.0
    with csv_path.open(newline="") as f:
        return sum(float(v) for row in csv.DictReader(f) if (v := row.get(column)) not in (None, ""))


def collect(runs: Path) -> list[Record]:
    """Every timing a build recorded under ``runs`` (see the module docstring), stages in the book's order."""
    records = []
    for path in sorted(runs.rglob("*")):
        rel = path.relative_to(runs)
        if any(p.startswith("checkpoint-") for p in rel.parts) or not path.is_file():
            continue
        stage, source = stage_of(rel), str(rel)
        if path.name == "train_state.json":
            runtime = float(json.loads(path.read_text())["metrics"].get("train_runtime", 0.0))
            stats = _logged_sum(path.parent / "log_history.csv", "dyme/stats_seconds")
            kind = "training steps (rollouts included)" if stage == "GRPO" else "training steps"
            records.append(Record(stage, kind, runtime - stats, source))
            if stats:
                records.append(Record(stage, "statistics pass", stats, source))
        elif path.name == "encoders.json":
            seconds = json.loads(path.read_text()).get("seconds")
            if seconds is not None:
                records.append(Record(stage, "whole phase (faces rendered, towers trained)", float(seconds), source))
        elif path.suffix == ".jsonl" and _is_predictions(path):
            gen = stats = total = 0.0
            for p in _jsonl(path):
                gen, stats, total = gen + p["generate_seconds"], stats + p["stats_seconds"], total + p["seconds"]
            records += [Record(stage, "generation", gen, source), Record(stage, "statistics pass", stats, source),
                        Record(stage, "media decoding + preprocessing", max(total - gen - stats, 0.0), source)]
    rank = lambda r: ORDER.index(r.stage) if r.stage in ORDER else len(ORDER)  # noqa: E731
    return sorted(records, key=rank)  # stable: path order within a stage


def notebook_times(timings: Path, profile: str) -> dict[str, float]:
    """Each notebook's last wall time for ``profile`` from the book runner's ``timings.json`` (empty when none)."""
    if not timings.exists():
        return {}
    return {k: float(v) for k, v in sorted(json.loads(timings.read_text()).get(profile, {}).items())}


# --- --measure: one live slice on the tiny model ------------------------------------------------------------------


class Clock:
    """Seconds spent in named functions while :meth:`patched`: media decoding and the encoders' forward."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn):
        """``fn`` timed under ``name``, with its signature (``generate`` inspects the encoders')."""
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        return timed

    @contextmanager
    def patched(self, thinker) -> Iterator[Clock]:
        """Time the decoders ``omni_inputs`` calls and the encoder calls of the thinker's inner model (the one
        ``generate``, the training forward and the statistics pass's backbone all go through)."""
        import emoomni.model.inputs as inputs

        inner = thinker.model

        saved = inputs.load_video, inputs.load_audio
        inputs.load_video, inputs.load_audio = self.wrap("decode", saved[0]), self.wrap("decode", saved[1])
        for name in ("get_video_features", "get_audio_features"):
            setattr(inner, name, self.wrap("encoders", getattr(inner, name)))
        try:
            yield self
        finally:
            inputs.load_video, inputs.load_audio = saved
            for name in ("get_video_features", "get_audio_features"):
                delattr(inner, name)

    def take(self, name: str) -> float:
        """The seconds counted under ``name`` since the last take, and reset it."""
        return self.seconds.pop(name, 0.0)


def _traces(samples) -> list:
    """Each clip's OmniCoT trace composed from its designed cues (what a trained model writes, in short)."""
    from emoomni.omnicot import OmniCoT

    return [OmniCoT(f"The face looks {s.meta['cues']['vision']}.", f"The voice sounds {s.meta['cues']['audio']}.",
                    s.transcript, f"Two of three cues point to {s.label}.", s.label) for s in samples]


def _trace_completions(processor, samples) -> tuple:
    """The clips' composed traces, tokenised and right padded as completion ids, and their mean length."""
    import torch

    from emoomni.omnicot import render

    tok = processor.tokenizer
    rows = [tok.encode(render(t) + "<|im_end|>", add_special_tokens=False) for t in _traces(samples)]
    ids = torch.full((len(rows), max(map(len, rows))), tok.pad_token_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
    return ids, statistics.mean(map(len, rows))


def measure_prediction(model, processor, samples, root: Path, max_new_tokens: int,
                       repeats: int) -> tuple[list[Record], str]:
    """One prediction batch, timed ``repeats`` times after a warm-up; records hold the mean seconds."""
    import torch

    from emoomni.evaluate.predict import generation_config
    from emoomni.labels import LABEL_SETS
    from emoomni.model import chat_messages, guided_token_ids, omni_inputs
    from emoomni.model.guided_stats import MODALITIES, completion_stats, stop_ids

    labels = LABEL_SETS["synthemo"].labels
    gc = generation_config(model, processor, max_new_tokens, False, 1.0, 1.0, 0)
    gc.min_new_tokens = max_new_tokens  # a fixed amount of work per repeat
    guided = {m: guided_token_ids(processor)[f"[{m}]"] for m in MODALITIES}
    completion, trace_len = _trace_completions(processor, samples)
    clock, sums = Clock(), {}
    model.eval()
    with clock.patched(model), torch.no_grad():
        for rep in range(repeats + 1):
            t0 = time.perf_counter()
            chats = [chat_messages(s, labels, root) for s in samples]
            inputs = omni_inputs(processor, chats, add_generation_prompt=True, fps=4.0, size=112)
            t1 = time.perf_counter()
            decode = clock.take("decode")
            clock.take("encoders")
            model.generate(**inputs, generation_config=gc)
            t2 = time.perf_counter()
            enc_gen = clock.take("encoders")
            completion_stats(model, inputs, completion, guided, [s.label for s in samples], processor.tokenizer,
                             stops=stop_ids(model))
            t3 = time.perf_counter()
            enc_stats = clock.take("encoders")
            if rep == 0:
                continue  # warm-up
            for kind, seconds in (("media decoding", decode), ("preprocessing", t1 - t0 - decode),
                                  ("encoder forward", enc_gen + enc_stats), ("generation", t2 - t1 - enc_gen),
                                  ("statistics pass", t3 - t2 - enc_stats)):
                sums[kind] = sums.get(kind, 0.0) + seconds
    stage = f"prediction batch ({len(samples)} clips)"
    note = (f"{stage}: {max_new_tokens} generated tokens a clip; statistics pass over composed traces of "
            f"{trace_len:.0f} tokens; the encoders run twice (generation's prefill and the statistics pass)")
    return [Record(stage, k, v / repeats, "measured") for k, v in sums.items()], note


def measure_sft_step(model_dir: Path, samples, root: Path, out: Path, repeats: int) -> tuple[list[Record], str]:
    """LoRA SFT steps through TRL's trainer (one warm-up step, then ``repeats``); records hold the mean seconds."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import ProgressCallback

    from emoomni.build import OmniCoTRecord
    from emoomni.labels import LABEL_SETS
    from emoomni.model.guided_stats import unwrap_thinker
    from emoomni.train.sft import SFTSettings, make_sft_trainer

    records = [OmniCoTRecord(s.id, t, True, "benchmark") for s, t in zip(samples, _traces(samples))]
    settings = SFTSettings(learning_rate=1e-3, per_device_batch_size=len(samples), max_steps=repeats + 1,
                           save_steps=10**6, eval_steps=10**6, logging_steps=10**6, rank=8)  # no log lines
    trainer = make_sft_trainer(model_dir, records, samples, root, LABEL_SETS["synthemo"].labels, out, settings)
    clock = Clock()
    collate, steps = [], []
    collator = trainer.data_collator

    def timed_collator(rows):
        start = time.perf_counter()
        batch = collator(rows)
        collate.append((time.perf_counter() - start, clock.take("decode")))
        return batch

    trainer.data_collator = timed_collator

    class StepClock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            clock.take("encoders")
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            steps.append((time.perf_counter() - self.start, clock.take("encoders")))

    trainer.add_callback(StepClock())
    trainer.remove_callback(ProgressCallback)  # its bar and log lines would mix with the table
    with clock.patched(unwrap_thinker(trainer.model)):
        trainer.train()
    collate, steps = collate[1:repeats + 1], steps[1:repeats + 1]  # the first batch and step warm up
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    stage = f"SFT step (batch {len(samples)})"
    recs = [Record(stage, "media decoding", mean([d for _, d in collate])),
            Record(stage, "preprocessing", mean([c - d for c, d in collate])),
            Record(stage, "encoder forward", mean([e for _, e in steps])),
            Record(stage, "forward, backward, optimizer", mean([s - e for s, e in steps]))]
    return [Record(r.stage, r.kind, r.seconds, "measured") for r in recs], \
        f"{stage}: LoRA r 8 through TRL's SFTTrainer, the collator (decoding, preprocessing) timed apart"


def measure_startup(repeats: int) -> tuple[list[Record], str]:
    """A Jupyter kernel starting and a notebook's first cell (the library's imports), each ``repeats`` times."""
    from jupyter_client.manager import start_new_kernel

    cell = ("from emoomni import config, notebooks, stages\nfrom emoomni.labels import label_set\n"
            "from emoomni.report import training as report\nnotebooks.setup()")
    kernel, imports = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
        kernel.append(time.perf_counter() - start)
        try:
            start = time.perf_counter()
            reply = kc.execute_interactive(cell, timeout=300, output_hook=lambda msg: None)
            imports.append(time.perf_counter() - start)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"the first cell failed in the kernel: {reply['content']}")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    stage = "notebook start-up"
    return [Record(stage, "kernel start", statistics.mean(kernel), "measured"),
            Record(stage, "first cell (imports)", statistics.mean(imports), "measured")], \
        f"{stage}: a python3 kernel, then notebook 03's import cell"


def measure(clips: int, max_new_tokens: int, repeats: int, seed: int, startup: bool) -> tuple[list[Record], list[str]]:
    """Every measured record and one note per stage (see the module docstring)."""
    import torch

    from emoomni.data.synthemo import generate
    from emoomni.model import build_tiny_omni, load_omni

    records, notes = [], [f"tiny random thinker, {clips} SynthEmo clips, torch threads {torch.get_num_threads()}, "
                          f"mean of {repeats} repeats after a warm-up"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_tiny_omni(tmp / "tiny", seed=seed)
        root = tmp / "clips"
        samples = generate(root, clips, seed=seed)
        model, processor = load_omni(model_dir)
        for recs, note in (measure_prediction(model, processor, samples, root, max_new_tokens, repeats),
                           measure_sft_step(model_dir, samples, root, tmp / "sft", repeats)):
            records += recs
            notes.append(note)
    if startup:
        recs, note = measure_startup(repeats)
        records += recs
        notes.append(note)
    return records, notes


# --- output -------------------------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "" if math.isnan(x) else f"{100 * x:.1f} %"


def table(rows: Sequence[Row], share: str) -> str:
    """The rows as a fixed-width table with seconds and the chosen share (``stage`` or ``total``)."""
    width = max([len(r.stage) for r in rows] + [5])
    kind_width = max([len(r.kind) for r in rows] + [4])
    lines = [f"{'stage':<{width}}  {'kind':<{kind_width}}  {'seconds':>10}  {'share':>7}"]
    last = None
    for r in rows:
        value = r.share_of_stage if share == "stage" else r.share_of_total
        lines.append(f"{(r.stage if r.stage != last else ''):<{width}}  {r.kind:<{kind_width}}  {r.seconds:>10.3f}  "
                     f"{_pct(value):>7}")
        last = r.stage
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the profile of a build on disk (``--runs``) or of a live slice (``--measure``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--runs", type=Path, help="a build's runs/<profile> directory to summarise")
    mode.add_argument("--measure", action="store_true", help="time one live slice on the tiny model")
    parser.add_argument("--timings", type=Path, help="the book runner's timings.json "
                                                     "(default: book/executed/timings.json beside runs/)")
    parser.add_argument("--clips", type=int, default=8, help="clips in the live slice's batch (default: 8, "
                                                             "the default profile's SFT batch)")
    parser.add_argument("--max-new-tokens", type=int, default=192,
                        help="tokens generated a clip (default: 192, the default profile's eval)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats after a warm-up (default: 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-startup", action="store_true", help="skip the notebook start-up measurement")
    parser.add_argument("--json", type=Path, help="also write the records and the table as JSON here")
    args = parser.parse_args(argv)
    notebooks: dict[str, float] = {}
    if args.runs:
        if not args.runs.is_dir():
            parser.error(f"{args.runs} is not a directory")
        records = collect(args.runs)
        timings = args.timings or args.runs.resolve().parent.parent / "book" / "executed" / "timings.json"
        notebooks = notebook_times(timings, args.runs.name)
        notes = [f"{args.runs}: {len(records)} recorded timings; shares of all recorded seconds"]
        share = "total"
    else:
        import logging
        import warnings

        logging.disable(logging.WARNING)
        warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' renamed checkpointing arguments
        records, notes = measure(args.clips, args.max_new_tokens, args.repeats, args.seed, not args.no_startup)
        share = "stage"
    rows = aggregate(records)
    print("\n".join(notes))
    if rows:
        print(table(rows, share))
        if args.runs:
            print(f"{'total':<{max(len(r.stage) for r in rows)}}  {sum(r.seconds for r in rows):.3f} s")
            print("\nby kind of work, every stage together:")
            print(table(by_kind(rows), "total"))
        else:  # the measured stages are different units of work: no grand total
            stages: dict[str, float] = {}
            for r in rows:
                stages[r.stage] = stages.get(r.stage, 0.0) + r.seconds
            print("per stage: " + "; ".join(f"{k} {v:.3f} s" for k, v in stages.items()))
    else:
        print("nothing recorded")
    if notebooks:
        book = sum(notebooks.values())
        print(f"\nnotebook wall time ({args.runs.name}, {timings}):")
        for name, seconds in notebooks.items():
            print(f"  {name:<32} {seconds:>9.1f} s  {_pct(seconds / book):>7}")
        recorded = sum(r.seconds for r in rows)
        print(f"  {'total':<32} {book:>9.1f} s")
        if recorded > book:
            print(f"the records above ({recorded:.1f} s) exceed the notebook times: they come from other builds "
                  "than the timed notebooks")
        else:
            print(f"the records above account for {recorded:.1f} s ({_pct(recorded / book)}) of it when both come from "
                  "one build; the rest has no record (SynthEmo, OmniCoT, OmniBench, model loading, reports, start-up)")
    if args.json:
        args.json.write_text(json.dumps({"mode": "runs" if args.runs else "measure", "notes": notes,
                                         "records": [asdict(r) for r in records], "rows": [asdict(r) for r in rows],
                                         "by_kind": [asdict(r) for r in by_kind(rows)], "notebooks": notebooks},
                                        indent=1))
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
