"""Compute the book's models and predictions before its notebooks run, several independent runs at a time.

One training run or prediction pass of the tiny model does not keep two cores busy (generation is mostly
Python between small matrix products), so two runs with one thread each finish sooner than the same two runs
one after the other with two threads each.

Every job runs with one torch thread, whatever the machine's core count (:data:`THREADS`). Results can
depend on the thread count at the float-rounding level: a matrix product of 5 to 11 rows (a decoding step
of a GRPO generation group of that size) rounds differently under one and two threads on this stack, and
DyME-GRPO's reward reads entropies off those logits. With one thread per job, the book's models and
predictions do not depend on how many cores the machine has (the tiny base, built first in this process
with the machine's threads, still does; ``tests/test_determinism.py``).

:func:`book_jobs` lists what the notebooks ask for as :class:`Job` s, each a few named stage calls
(:data:`STEPS`) on one profile; :func:`run` computes them in a pool of worker processes, each job once the
jobs it names in ``after`` have finished. Everything lands in the stage cache, where the notebooks find it.
A failed job is reported with its log and left to the notebook that asks for it, which then shows the error.
"""

from __future__ import annotations

import argparse
import ctypes
import graphlib
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TextIO

import torch

from emoomni import config, stages
from emoomni.ablation import SKILL_ARMS, STUDY_ARMS, rmod_arms, with_seed
from emoomni.notebooks import EXECUTED_DIR, record_time
from emoomni.paths import profile_runs
from emoomni.progress import ENV, bar_text, clock, show
from emoomni.progress import read as read_progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """Stage calls on one profile, run in order in one worker, after the jobs named in ``after``."""

    name: str
    params: config.Params
    steps: tuple[tuple[Any, ...], ...]
    """Each ``(step name, *arguments)``: :data:`STEPS`'s function called with ``params`` and the arguments."""
    after: tuple[str, ...] = ()


STEPS: dict[str, Callable[..., Any]] = {
    "predict": lambda p, key, benchmark=None: stages.named_predictions(p, key, benchmark=benchmark),
    "rely": lambda p, key: stages.modality_reliance(p, stages.models(p, key)),
    "merge": lambda p: stages.sft_merged(p),
    "omnibench": lambda p, key: stages.omnibench_runs(p, key),
    "perception": lambda p: stages.base_perception(p),
    "probes": lambda p: stages.tower_probes(p),
    "separability": lambda p: stages.synthemo_separability(p),
}
"""What a job's step may do, by name: each one stage call of a notebook (keys as :func:`emoomni.stages.model`'s)."""
MODEL_STEPS = ("predict", "rely", "omnibench")
"""The steps whose first argument is a model key."""


def prepare(params: config.Params) -> None:
    """What every job shares, computed here first: SynthEmo, OmniCoT, the base, the removal clips, the items."""
    stages.synthemo_set(params)
    stages.omnicot(params)
    stages.base_model(params)
    stages.modality_reliance(params, {})  # writes the clips with a modality removed, once
    stages.omnibench_items(params)


class _Plan:
    """Jobs keyed by what they compute (profile and model): asking twice for one model merges the steps."""

    def __init__(self, params: config.Params) -> None:
        self.params, self.jobs, self.by_key = params, [], {}

    def model(self, p: config.Params, key: str, steps: Sequence[tuple[Any, ...]] = (), name: str | None = None) -> str:
        """The job training (or reusing) ``key``'s model on ``p`` and predicting the evaluation split, plus ``steps``.

        Steps of :data:`MODEL_STEPS` are given without the model key, which is filled in. Returns the job's name.
        """
        kind, arg = stages.model_key(p, key)
        key = kind if arg is None else f"{kind}:{arg!r}" if kind == "grpo" else f"{kind}:{arg}"
        steps = [self._step(p, key, s) for s in (("predict",), *steps)]
        model_name = stages.model_name(p, key)
        ident = (json.dumps(p.snapshot(), sort_keys=True, default=str), model_name)
        after: tuple[str, ...] = ()
        if key == "sft:omnicot":
            steps = [steps[0], ("merge",), *steps[1:]]  # GRPO's starting point, made once before any GRPO job of this profile
        if kind == "grpo":  # after the OmniCoT SFT of the same seed and trace order
            sft = replace(p, grpo=with_seed(self.params, p.sft.settings.seed).grpo)
            after = (self.model(sft, "sft:omnicot", name=f"SFT OmniCoT seed {p.sft.settings.seed}"
                                + ("" if sft.omnicot.order == self.params.omnicot.order else f" ({sft.omnicot.order})")),)
        if ident not in self.by_key:
            job = Job(name or (model_name if kind == "base" else f"{model_name} seed {p.sft.settings.seed}"), p, (), after)
            self.by_key[ident] = len(self.jobs)
            self.jobs.append(job)
        i = self.by_key[ident]
        merged = list(self.jobs[i].steps)
        merged += [s for n, s in enumerate(steps) if s not in merged and s not in steps[:n]]
        self.jobs[i] = replace(self.jobs[i], steps=tuple(merged))
        return self.jobs[i].name

    @staticmethod
    def _step(p: config.Params, key: str, step: tuple[Any, ...]) -> tuple[Any, ...]:
        """A step with the model key filled in, and a prediction's benchmark (None: the profile's) named."""
        if step[0] == "predict":
            return "predict", key, step[1] if len(step) > 1 else p.eval.benchmark
        return (step[0], key, *step[1:]) if step[0] in MODEL_STEPS else step


def book_jobs(params: config.Params) -> list[Job]:
    """What the book's notebooks ask for beyond :func:`prepare`, as jobs, most needed first.

    Per seed of ``study.seeds``: every arm of the collapse study (notebooks 04 and 08) and of the R_mod study
    (notebook 06), each evaluated and predicted on the removal clips, and OmniCoT SFT's and DyME-GRPO's
    general-ability answers (07). On the profile's own seed: the base's
    perception, probes and general-ability answers (03, 07), Table 2's styles (04), the alpha sweep (06)
    and SynthEmo's separability check (00).
    """
    plan = _Plan(params)
    for seed in params.study.seeds:
        p = with_seed(params, seed)
        for key in STUDY_ARMS:
            plan.model(p, key, [("rely",), *([("omnibench",)] if key in SKILL_ARMS else [])])
        for arm, (q, alpha) in rmod_arms(p).items():
            key = "grpo" if alpha is None else f"grpo:{alpha!r}"
            plan.model(q, key, [("rely",)], name=f"{arm} seed {seed}" if q != p else None)
    plan.model(params, "base", [("rely",), ("perception",), ("probes",), ("omnibench",)])
    plan.model(params, "sft", [("rely",)])
    plan.model(params, "grpo", [("rely",), ("omnibench",)])
    for style in params.sft.styles:
        plan.model(params, f"sft:{style}", [("predict", "synthemo")])
    for alpha in params.study.alphas:
        plan.model(params, f"grpo:{float(alpha)!r}", [("predict", "synthemo")])
    plan.jobs.append(Job("SynthEmo separability", params, (("separability",),)))
    return plan.jobs


# The pool.

THREADS = 1
"""Torch threads of every job: fixed, so that a job computes the same numbers on any core count."""
PR_SET_PDEATHSIG = 1
"""Linux's ``prctl`` option: a signal for this process when the thread that started it ends."""


def _exit_with_parent(parent: int) -> None:
    """End this worker when the process that started it is gone (killed, even with SIGKILL)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _start_worker(threads: int, parent: int) -> None:
    """A worker's set-up: its torch thread count, and an end when the parent dies (at once on Linux)."""
    torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()  # also if it died before


def log_path(job: Job) -> Path:
    """Where a job's output (its logs and bars) is written: ``runs/<profile>/prefetch-logs/<job>.log``."""
    return profile_runs(job.params) / "prefetch-logs" / (re.sub(r"[^\w.=-]+", "_", job.name).strip("_") + ".log")


def _steps(job: Job) -> float:
    """Run one job's steps in this process; returns the seconds they took."""
    start = time.perf_counter()
    for name, *args in job.steps:
        STEPS[name](job.params, *args)
    return time.perf_counter() - start


def run_job(job: Job, progress: str | None = None) -> float:
    """Run one job's steps here, their output (and native code's) into :func:`log_path`; returns the seconds."""
    path = log_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    if progress:
        os.environ[ENV] = progress
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("a") as out:
        os.dup2(out.fileno(), 1), os.dup2(out.fileno(), 2)
        try:
            return _steps(job)
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


def _run_job(job: Job, progress: str) -> tuple[float | None, str]:
    """:func:`run_job` in a worker: ``(seconds, "")``, or ``(None, the error)`` when a step raised."""
    try:
        return run_job(job, progress), ""
    except Exception as e:  # reported by the parent, which goes on with the jobs that do not need this one
        with log_path(job).open("a") as out:
            out.write(traceback.format_exc())
        return None, f"{type(e).__name__}: {e}"


def select(jobs: Sequence[Job], pattern: str) -> list[Job]:
    """The jobs whose name matches ``pattern`` (a regular expression), with every job they wait for.

    >>> from emoomni import config
    >>> p = config.load("smoke")
    >>> jobs = [Job("SFT seed 3", p, ()), Job("GRPO seed 3", p, (), after=("SFT seed 3",)), Job("SFT seed 4", p, ())]
    >>> [j.name for j in select(jobs, "GRPO")]
    ['SFT seed 3', 'GRPO seed 3']
    """
    by_name = {j.name: j for j in jobs}
    wanted = {j.name for j in jobs if re.search(pattern, j.name)}
    todo = list(wanted)
    while todo:
        for name in by_name[todo.pop()].after:
            if name not in wanted:
                wanted.add(name)
                todo.append(name)
    return [j for j in jobs if j.name in wanted]


def ready(pending: Sequence[Job], done: set[str]) -> list[Job]:
    """The pending jobs whose ``after`` are all done, those that others wait for first.

    >>> from emoomni import config
    >>> p = config.load("smoke")
    >>> jobs = [Job("a", p, ()), Job("b", p, (), after=("a",)), Job("c", p, ()), Job("d", p, (), after=("c",))]
    >>> [j.name for j in ready(jobs[2:], set()) ], [j.name for j in ready(jobs[1:], {"a"})]
    (['c'], ['c', 'b'])
    """
    waited = {d for j in pending for d in j.after}
    free = [j for j in pending if all(d in done for d in j.after)]
    return sorted(free, key=lambda j: j.name not in waited)


def status(done: int, total: int, elapsed: float, expected: float | None, bars: dict[str, dict | None]) -> str:
    """The pool's line: jobs done, time spent and left by the last build, and each running job's latest bar.

    >>> status(3, 10, 90.0, 600.0, {"SFT label only seed 1": {"desc": "SFT steps", "n": 5, "total": 20, "elapsed": 10}})
    'prefetch  3/10 jobs  1:30 elapsed, about 8:30 left  | SFT label only seed 1: SFT steps [#####               ] 5/20 0:10<0:30'
    """
    line = f"prefetch  {done}/{total} jobs  {clock(elapsed)} elapsed"
    if expected:
        line += f", about {clock(max(expected - elapsed, 0.0))} left" if expected > elapsed else ", over the last build's time"
    return "  | ".join([line, *(f"{name}: {bar_text(state)}".rstrip(": ") for name, state in bars.items())])


def run(jobs: Sequence[Job], workers: int = 2, expected: float | None = None, stream: TextIO = sys.stderr
        ) -> dict[str, str]:
    """Compute ``jobs`` in ``workers`` processes of :data:`THREADS` torch threads each; returns the failures.

    A job starts once every job in its ``after`` has finished; one whose ``after`` failed is not run. The
    result maps each failed (or not run) job's name to why. ``workers`` of 1 runs the jobs here, in order.
    """
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names repeat: {sorted(n for n in set(names) if names.count(n) > 1)}")
    unknown = sorted({d for j in jobs for d in j.after} - set(names))
    if unknown:
        raise ValueError(f"jobs wait for jobs that are not in the list: {unknown}")
    graphlib.TopologicalSorter({j.name: j.after for j in jobs}).prepare()  # raises CycleError on a circle
    if workers <= 1:
        return _run_here(jobs)
    pending, done, failed, started = list(jobs), set(), {}, 0
    start = time.monotonic()
    tty, last = stream.isatty(), 0.0
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=_start_worker,
            initargs=(THREADS, os.getpid())) as pool:
        running: dict[Future, tuple[Job, str]] = {}
        while pending or running:
            _skip_blocked(pending, failed)
            for job in ready(pending, done)[: workers - len(running)]:
                pending.remove(job)
                started += 1
                progress = str(Path(tmp) / f"{started}.json")
                running[pool.submit(_run_job, job, progress)] = (job, progress)
            finished, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in finished:
                job, _ = running.pop(future)
                try:
                    seconds, error = future.result()
                except BrokenProcessPool as e:  # a worker was killed (out of memory?): nothing more can run
                    seconds, error = None, f"its worker died ({e})"
                    failed.update({j.name: "not run: the worker pool broke" for j in pending})
                    pending.clear()
                if seconds is None:
                    failed[job.name] = f"{error} (log: {log_path(job)})"
                    log.error("prefetch: %s failed: %s", job.name, failed[job.name])
                else:
                    done.add(job.name)
                    log.info("prefetch: %-40s %7.1f s", job.name, seconds)
            if time.monotonic() - last >= (1.0 if tty else 30.0):
                last = time.monotonic()
                show(stream, status(len(done), len(jobs), last - start, expected,
                                    {j.name: read_progress(p) for j, p in running.values()}))
    if tty:
        stream.write("\r\x1b[2K")
    return failed


def _skip_blocked(pending: list[Job], failed: dict[str, str]) -> None:
    """Move the pending jobs that wait for a failed one to ``failed``, each with the reason."""
    for job in [j for j in pending if any(d in failed for d in j.after)]:
        pending.remove(job)
        failed[job.name] = "not run: " + ", ".join(d for d in job.after if d in failed) + " failed"


def _run_here(jobs: Sequence[Job]) -> dict[str, str]:
    """:func:`run` with one worker: every job in this process, in order, its output where this process's goes."""
    pending, done, failed = list(jobs), set(), {}
    while True:
        _skip_blocked(pending, failed)
        if not pending:
            return failed
        job = ready(pending, done)[0]
        pending.remove(job)
        try:
            log.info("prefetch: %-40s %7.1f s", job.name, _steps(job))
            done.add(job.name)
        except Exception as e:
            failed[job.name] = f"{type(e).__name__}: {e}"
            log.exception("prefetch: %s failed", job.name)


def main(argv: list[str] | None = None) -> int:
    """Compute what the book's notebooks need on a profile, several runs at a time, before they run."""
    parser = argparse.ArgumentParser(prog="python -m emoomni.prefetch", description=main.__doc__)
    parser.add_argument("--profile", default="default", help="params/<profile>.yaml (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=1 if torch.cuda.is_available() else min(os.cpu_count() or 1, 8),
                        help="runs computed at once, each in a process with one torch thread (default: the cores, "
                             "at most 8, on a CPU; 1 with a GPU: the jobs then run in this process, in order)")
    parser.add_argument("--list", action="store_true", help="print the jobs and what each waits for; run nothing")
    parser.add_argument("--only", metavar="REGEX", help="only the jobs whose name matches (and those they wait for), "
                                                        "e.g. --profile study --only 'seed [34]$'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = config.load(args.profile)
    jobs = select(book_jobs(params), args.only) if args.only else book_jobs(params)
    if not jobs:
        parser.error(f"no job matches {args.only!r}; --list shows them")
    if args.list:
        for job in jobs:
            print(f"{job.name}: {', '.join(' '.join(map(str, s)) for s in job.steps)}"
                  + (f" (after {', '.join(job.after)})" if job.after else ""))
        return 0
    timings = EXECUTED_DIR / "timings.json"
    expected = json.loads(timings.read_text()).get(args.profile, {}).get("prefetch") if timings.exists() else None
    start = time.perf_counter()
    prepare(params)
    failed = run(jobs, args.jobs, expected)
    seconds = time.perf_counter() - start
    log.info("prefetch: %d of %d jobs in %.1f s", len(jobs) - len(failed), len(jobs), seconds)
    if failed:
        log.error("prefetch: %d failed; the notebooks that need them will compute them and show the error:\n%s",
                  len(failed), "\n".join(f"  {k}: {v}" for k, v in failed.items()))
        return 1
    if not args.only:  # the estimate shown next time is for the whole set
        record_time(timings, "prefetch", args.profile, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
