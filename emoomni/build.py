"""The OmniCoT construction pipeline: manifest -> evidence -> verdict -> OmniCoT records; resumable.

Evidence is cached per modality in an append-only journal keyed by a hash of the media (and the
transcript) together with the backend's cache key (name, options, prompts); verdicts likewise by
the evidence, the gold label and the verifier's key. A run killed at any point and started again
skips everything journalled, recomputes nothing it had finished and writes the same outputs.
Verdicts are kept for every sample; only supported samples become OmniCoT records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from emoomni.progress import tqdm

from emoomni.data.manifest import Sample, resolve_media
from emoomni.extract.base import MODALITIES, Evidence, ExtractionError, Extractor
from emoomni.extract.verify import Verdict, Verifier
from emoomni.omnicot import OmniCoT, OmniCoTFormatError, render
from emoomni.records import write_lines

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OmniCoTRecord:
    """A verified OmniCoT trace for one sample."""

    sample_id: str
    trace: OmniCoT
    verified: bool
    reason: str

    def to_json(self) -> str:
        """One JSONL line."""
        return json.dumps({"sample_id": self.sample_id, "trace": self.trace.to_dict(), "verified": self.verified,
                           "reason": self.reason}, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OmniCoTRecord":
        """Build from a decoded JSONL line."""
        return cls(d["sample_id"], OmniCoT(**d["trace"]), d["verified"], d["reason"])

    @property
    def text(self) -> str:
        """The rendered trace."""
        return render(self.trace)


@dataclass
class BuildResult:
    """Everything one build produced, plus what it did and did not recompute."""

    evidence: list[Evidence]
    verdicts: list[Verdict]
    records: list[OmniCoTRecord]
    errors: list[dict[str, str]]
    computed: dict[str, int] = field(default_factory=dict)
    out_dir: Path | None = None


def media_hash(sample: Sample, data_root: Path) -> str:
    """A hash of what an extractor sees: the media bytes and the transcript."""
    h = hashlib.sha256()
    for rel in (sample.video, sample.audio):
        if rel:
            path = resolve_media(data_root, rel)
            h.update(path.read_bytes() if path.is_file() else f"missing:{rel}".encode())
    h.update((sample.transcript or "").encode())
    return h.hexdigest()[:24]


class Journal:
    """An append-only JSONL of finished work keyed by ``key``; a torn last line is ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self.done[row["key"]] = row
                except (ValueError, KeyError):
                    continue

    def add(self, rows: Iterable[dict]) -> None:
        """Append rows and flush them to disk."""
        rows = list(rows)
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
                self.done[row["key"]] = row
            fh.flush()


def _extract_batch(args: tuple[Extractor, list[Sample], list[str], str, tuple[str, ...]]) -> list[dict]:
    """Describe a batch; on a batch failure, retry one by one so that one bad sample loses nothing else."""
    extractor, batch, keys, root, labels = args
    root_path = Path(root)
    start = time.perf_counter()
    try:
        texts = extractor.describe(batch, root_path, labels)
        per = (time.perf_counter() - start) / max(len(batch), 1)
        return [_row(k, t, None, per) for k, t in zip(keys, texts)]
    except ExtractionError as e:
        partial = getattr(e, "results", None)  # backends that finish every request report them all
        if partial is not None:
            per = (time.perf_counter() - start) / max(len(batch), 1)
            errs = getattr(e, "errors", {})
            return [_row(k, t, None if t is not None else errs.get(s.id, str(e)), per)
                    for s, k, t in zip(batch, keys, partial)]
        if len(batch) == 1:
            raise
    except Exception:  # noqa: BLE001 - isolate the failing sample below
        if len(batch) == 1:
            raise
    rows = []
    for s, k in zip(batch, keys):
        t0 = time.perf_counter()
        try:
            rows.append(_row(k, extractor.describe([s], root_path, labels)[0], None, time.perf_counter() - t0))
        except Exception as e:  # noqa: BLE001 - recorded per sample, the run goes on
            rows.append(_row(k, None, f"{type(e).__name__}: {e}", time.perf_counter() - t0))
    return rows


def _row(key: str, text: str | None, error: str | None, seconds: float) -> dict:
    if text is not None and not text.strip():
        text, error = None, "ExtractionError: empty evidence"
    return {"key": key, "text": text, "error": error, "seconds": round(seconds, 4)}


def _safe_batch(args) -> list[dict]:
    """:func:`_extract_batch` with a single-sample failure recorded instead of raised."""
    try:
        return _extract_batch(args)
    except Exception as e:  # noqa: BLE001
        return [_row(args[2][0], None, f"{type(e).__name__}: {e}", 0.0)]


def extract_evidence(samples: Sequence[Sample], data_root: Path, extractors: dict[str, Extractor],
                     labels: Sequence[str], cache_dir: Path, batch_size: int = 16, workers: int = 1) -> tuple[list[Evidence], dict[str, int]]:
    """Evidence for every sample, from the cache where possible; returns the records and counts computed."""
    hashes = {s.id: media_hash(s, data_root) for s in samples}
    rows: dict[str, dict[str, dict]] = {}
    computed = {}
    for modality in MODALITIES:
        ex = extractors[modality]
        if hasattr(ex, "prepare"):
            ex.prepare(samples, data_root, cache_dir)
        journal = Journal(cache_dir / f"evidence-{modality}-{ex.name}-{ex.cache_key()}.jsonl")
        todo = [s for s in samples if hashes[s.id] not in journal.done]
        todo = list({hashes[s.id]: s for s in todo}.values())
        computed[modality] = len(todo)
        jobs = [(ex, todo[i : i + batch_size], [hashes[s.id] for s in todo[i : i + batch_size]], str(data_root),
                 tuple(labels)) for i in range(0, len(todo), batch_size)]
        with tqdm(total=len(todo), desc=f"{modality} evidence ({ex.name})", disable=not todo) as bar:
            if workers > 1 and getattr(ex, "parallel_safe", True) and len(jobs) > 1:
                with get_context("fork").Pool(workers) as pool:
                    for out in pool.imap_unordered(_safe_batch, jobs):
                        journal.add(out)
                        bar.update(len(out))
            else:
                for job in jobs:
                    out = _safe_batch(job)
                    journal.add(out)
                    bar.update(len(out))
        rows[modality] = {s.id: journal.done[hashes[s.id]] for s in samples}
    evidence = []
    for s in samples:
        r = {m: rows[m][s.id] for m in MODALITIES}
        evidence.append(Evidence(
            sample_id=s.id, **{m: r[m]["text"] for m in MODALITIES},
            backends={m: extractors[m].name for m in MODALITIES},
            seconds={m: r[m]["seconds"] for m in MODALITIES},
            errors={m: r[m]["error"] for m in MODALITIES if r[m]["error"]},
        ))
    return evidence, computed


def verifier_key(verifier: Verifier) -> str:
    """What decides a verifier's output besides its input."""
    blob = json.dumps({"name": verifier.name, "options": verifier.options}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def judge_all(evidence: Sequence[Evidence], golds: Sequence[str], verifier: Verifier, labels: Sequence[str],
              cache_dir: Path, batch_size: int = 16) -> tuple[list[Verdict], int]:
    """A verdict for every sample (missing evidence is a verdict too), cached by evidence and gold label."""
    journal = Journal(cache_dir / f"verdicts-{verifier.name}-{verifier_key(verifier)}.jsonl")

    def key(ev: Evidence, gold: str) -> str:
        blob = json.dumps([ev.vision, ev.audio, ev.dialogue, gold, list(labels)])
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    keys = [key(ev, g) for ev, g in zip(evidence, golds)]
    todo = [(k, ev, g) for k, ev, g in zip(keys, evidence, golds) if k not in journal.done]
    todo = list({k: (k, ev, g) for k, ev, g in todo}.values())
    failed: dict[str, str] = {}
    for i in tqdm(range(0, len(todo), batch_size), desc=f"verification ({verifier.name})", disable=not todo):
        chunk = todo[i : i + batch_size]
        try:
            verdicts = verifier.judge([(ev, g) for _, ev, g in chunk], labels)
        except Exception as e:  # noqa: BLE001 - a failed request is reported, not cached, and retried next run
            verdicts = getattr(e, "results", None) or [None] * len(chunk)
            for (k, ev, _), v in zip(chunk, verdicts):
                if v is None:
                    failed[k] = getattr(e, "errors", {}).get(ev.sample_id, f"{type(e).__name__}: {e}")
        journal.add({"key": k, **asdict(v)} for (k, _, _), v in zip(chunk, verdicts) if v is not None)
    out = []
    for k, ev in zip(keys, evidence):
        if k in failed:
            out.append(Verdict(ev.sample_id, None, f"verifier request failed: {failed[k]}", backend=verifier.name))
            continue
        row = {f: v for f, v in journal.done[k].items() if f != "key"}
        out.append(Verdict(**{**row, "sample_id": ev.sample_id}))
    return out, len(todo)


def build(samples: Sequence[Sample], data_root: str | Path, out_dir: str | Path, extractors: dict[str, Extractor],
          verifier: Verifier, labels: Sequence[str], batch_size: int = 16, workers: int = 1) -> BuildResult:
    """Run the whole construction and write evidence, verdicts, records, errors and retention to ``out_dir``."""
    data_root, out = Path(data_root), Path(out_dir)
    cache = out / "cache"
    missing_gold = [s.id for s in samples if s.label is None]
    if missing_gold:
        raise ValueError(f"{len(missing_gold)} samples have no gold label (first: {missing_gold[0]})")
    evidence, computed = extract_evidence(samples, data_root, extractors, labels, cache, batch_size, workers)
    verdicts, computed["verdicts"] = judge_all(evidence, [s.label for s in samples], verifier, labels, cache, batch_size)
    records, errors = [], []
    for s, ev, v in zip(samples, evidence, verdicts):
        for m, e in ev.errors.items():
            errors.append({"sample_id": s.id, "stage": f"{m} evidence", "file": s.video or s.audio or "", "error": e})
        if v.supported is None:
            errors.append({"sample_id": s.id, "stage": "verification", "file": s.video or s.audio or "", "error": v.reason})
        if not v.supported:
            continue
        try:
            trace = OmniCoT(ev.vision, ev.audio, ev.dialogue, v.analysis, s.label)
            render(trace)
        except (OmniCoTFormatError, TypeError) as e:
            errors.append({"sample_id": s.id, "stage": "trace", "file": s.video or "", "error": str(e)})
            continue
        records.append(OmniCoTRecord(s.id, trace, True, v.reason))
    result = BuildResult(evidence, verdicts, records, errors, computed, out)
    _write(out, result)
    log.info("OmniCoT: %d of %d samples kept; computed %s", len(records), len(samples), computed)
    return result


def _write(out: Path, result: BuildResult) -> None:
    for name, rows in (("evidence", [e.to_json() for e in result.evidence]),
                       ("verdicts", [v.to_json() for v in result.verdicts]),
                       ("omnicot", [r.to_json() for r in result.records]),
                       ("errors", [json.dumps(e, ensure_ascii=False, sort_keys=True) for e in result.errors])):
        write_lines(rows, out / f"{name}.jsonl")


def read_records(path: str | Path) -> list[OmniCoTRecord]:
    """Read OmniCoT records from JSONL."""
    return [OmniCoTRecord.from_dict(json.loads(x)) for x in Path(path).read_text(encoding="utf-8").splitlines() if x]
