"""OmniBench evaluation: the question chat, option-letter parsing, batched resumable answering, accuracy per task.

:func:`answer_questions` serves OmniBench itself and the generated SynthBench alike: both are read into
:class:`~emoomni.data.omnibench.BenchItem` records (:func:`emoomni.data.omnibench.index`,
:func:`emoomni.data.synthbench.generate`). Generation is greedy, left-padded and batched through
:func:`emoomni.model.omni_inputs`; every finished batch is appended to a JSONL journal, and a rerun skips
the item ids already there. An item whose media cannot be read gets a record with ``error`` set instead
of failing the run; :func:`accuracy_by_task` leaves such items out of the accuracy and counts them.
"""

from __future__ import annotations

import json  # noqa: F401 (used by the doctests)
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image
from emoomni.progress import tqdm

from emoomni.data.manifest import ManifestError
from emoomni.data.omnibench import LETTERS, BenchItem, question_messages
from emoomni.evaluate.predict import generation_config
from emoomni.media import MediaError
from emoomni.model import decode, omni_inputs, reply_log_probs
from emoomni.model.guided_stats import completion_lengths, stop_ids, teacher_forced_hidden
from emoomni.records import append_lines, checked_fields, load_journal, to_line, write_lines

log = logging.getLogger(__name__)

MAX_PIXELS = 1280 * 28 * 28
"""Images larger than this many pixels are scaled down before the processor (aspect kept)."""
MODES = ("generate", "likelihood", "option")
"""How an answer is read: a parsed reply, the likeliest first letter, the likeliest option text (:func:`answer_questions`)."""
MEDIA_ERRORS = (MediaError, ManifestError, OSError, Image.DecompressionBombError)
"""Exceptions that mean an item's media cannot be read (recorded per item, not raised)."""


@dataclass
class BenchAnswer:
    """One answered question: the reply, its parsed letter (None: unparseable), the gold letter, any media error."""

    sample_id: str
    task_type: str
    reply: str
    choice: str | None
    gold: str
    correct: bool
    error: str | None = None

    def to_json(self) -> str:
        """One JSONL line, carrying the schema version."""
        return to_line(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchAnswer:
        """Build a BenchAnswer from a decoded JSONL line, checking the schema version and fields.

        >>> a = BenchAnswer("omnibench-0", "Colour", "B", "B", "B", True)
        >>> BenchAnswer.from_dict(json.loads(a.to_json())) == a
        True
        """
        return cls(**checked_fields(cls, d, required=("sample_id", "task_type", "reply", "choice", "gold",
                                                      "correct"), kind="answer"))


# ---- parsing the reply -------------------------------------------------------------------------------------

_PHRASE = re.compile(r"\b(?:answer|option|choice)(?:\s+(?:is|would\s+be|should\s+be)|\s*[:=])?\s*"
                     r"(?:option\s+|letter\s+)?[(\[]?([a-z])[)\]]?(?![\w'])", re.IGNORECASE)
_LEAD = re.compile(r"^(?:[(\[]([a-z])[)\]]|([A-Z])[.:)](?=\s|$))", re.IGNORECASE)
_ALONE = re.compile(r"^[(\[]?([a-z])[)\]]?[.:)]?$", re.IGNORECASE)
_TOKEN = re.compile(r"(?<![\w'])[(\[]?([A-Z])[)\]]?(?![\w'])")
_VERBS = {"is", "was", "seems", "because", "fits", "matches", "and", "or"}


def _norm(text: str) -> str:
    """Lower case, single spaces, no surrounding punctuation or quotes."""
    return re.sub(r"\s+", " ", text).strip().strip(".,;:!?\"'`").strip().lower()


def _explicit(text: str, letters: str) -> set[str]:
    """Letters stated as the answer: the reply alone, after answer / option / choice, or leading ``B.`` / ``(b)``."""
    found = set()
    if m := _ALONE.match(text):
        found.add(m.group(1).upper())
    if m := _LEAD.match(text):
        found.add((m.group(1) or m.group(2)).upper())
    for m in _PHRASE.finditer(text):
        letter = m.group(1)
        if letter.islower() and re.match(r"\s+\w", text[m.end():]):
            continue  # "the answer is a dog": an article, not a letter
        found.add(letter.upper())
    return found & set(letters)


def _loose(text: str, letters: str) -> set[str]:
    """Capital letters standing alone anywhere ("I think it's B."), the article "A dog" excepted."""
    found = set()
    for m in _TOKEN.finditer(text):
        nxt = re.match(r"\s+([a-z]+)", text[m.end():])
        if m.group(1) == "A" and nxt and nxt.group(1) not in _VERBS:
            continue
        if m.group(1) in letters:
            found.add(m.group(1))
    return found


def _by_text(text: str, options: Sequence[str], letters: str) -> set[str]:
    """Letters of the options whose text the reply is, or contains as whole words (longest match wins)."""
    reply = _norm(text)
    norms = [_norm(o) for o in options]
    exact = {letter for letter, o in zip(letters, norms) if o and o == reply}
    if exact:
        return exact
    hits = {k for k, o in enumerate(norms) if o and re.search(rf"(?<!\w){re.escape(o)}(?!\w)", reply)}
    hits = {k for k in hits if not any(j != k and norms[k] in norms[j] for j in hits)}
    return {letters[k] for k in hits}


def parse_choice(text: str, options: Sequence[str]) -> str | None:
    """The option letter a reply chooses, or None when it names none or two different ones.

    Explicit forms come first (the letter alone, ``Answer: B``, ``the answer is b``, a leading ``B.``),
    then capital letters standing alone, then an option's text.

    >>> opts = ("red", "blue", "dark blue", "green")
    >>> [parse_choice(r, opts) for r in ("B", "(B)", "B.", "b", "Answer: B", "the answer is b", "**B**")]
    ['B', 'B', 'B', 'B', 'B', 'B', 'B']
    >>> [parse_choice(r, opts) for r in ("The correct option is (C).", "C. dark blue", "I think it's D.")]
    ['C', 'C', 'D']
    >>> [parse_choice(r, opts) for r in ("green", "Green.", "It is dark blue.", "red, I'd say")]
    ['D', 'D', 'C', 'A']
    >>> [parse_choice(r, opts) for r in ("", "I am not sure.", "A or B", "Answer: A. Answer: C", "red or green")]
    [None, None, None, None, None]
    >>> parse_choice("A dog barks.", ("A cat sleeps.", "A dog barks.", "A man sings.", "A car passes."))
    'B'
    >>> parse_choice("The answer is E", opts) is None
    True
    """
    letters = LETTERS[:len(options)]
    if not 1 <= len(options) <= len(LETTERS):
        raise ValueError(f"expected 1 to {len(LETTERS)} options, got {len(options)}")
    clean = re.sub(r"\*\*|__|`", "", text or "").strip()
    if not clean:
        return None
    for finder in (_explicit, _loose):
        found = finder(clean, letters)
        if found:
            return found.pop() if len(found) == 1 else None
    found = _by_text(clean, options, letters)
    return found.pop() if len(found) == 1 else None


# ---- answering ---------------------------------------------------------------------------------------------


def _load(path: Path) -> tuple[dict[str, BenchAnswer], bool]:
    """Records by sample id (first occurrence wins) and whether the file needs rewriting (torn tail, duplicates)."""
    return load_journal(path, BenchAnswer.from_dict)


def read_answers(path: str | Path) -> list[dict]:
    """Read an answers JSONL journal as dicts (a torn last line, left by a killed run, is ignored)."""
    return [asdict(a) for a in _load(Path(path))[0].values()]


def _fit_image(path: str, max_pixels: int | None) -> Image.Image:
    """Open an image as RGB, scaled down (aspect kept) to at most ``max_pixels`` pixels."""
    with Image.open(path) as im:
        image = im.convert("RGB")
    if max_pixels and image.width * image.height > max_pixels:
        scale = math.sqrt(max_pixels / (image.width * image.height))
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))),
                             Image.Resampling.BICUBIC)
    return image


def _prepared(sample: BenchItem, data_root: str | Path, max_pixels: int | None) -> list[dict]:
    """The item's chat with its image already decoded and scaled (raises a MEDIA_ERRORS exception)."""
    messages = question_messages(sample, data_root)
    for item in messages[1]["content"]:
        if item["type"] == "image":
            item["image"] = _fit_image(item["image"], max_pixels)
        elif item["type"] == "audio" and not Path(item["audio"]).is_file():
            raise MediaError(f"{item['audio']}: file not found")
    return messages


def _inputs(processor: Any, chats: list[list[dict]]) -> Any:
    return omni_inputs(processor, chats, add_generation_prompt=True)


def _error(sample: BenchItem, e: BaseException) -> BenchAnswer:
    """The record of an item whose media could not be read."""
    log.warning("%s: media error, skipped: %s", sample.id, e)
    return BenchAnswer(sample.id, sample.task_type, "", None, sample.letter, False, error=f"{type(e).__name__}: {e}")


def _likeliest_letters(model: Any, processor: Any, inputs: Any, batch: Sequence[BenchItem]) -> list[str]:
    """Per item, the option letter the model finds likeliest as the first token of its reply."""
    tok = getattr(processor, "tokenizer", processor)
    letter_ids = [tok.encode(letter, add_special_tokens=False)[0] for letter in LETTERS]
    empty = torch.zeros((inputs["input_ids"].shape[0], 0), dtype=torch.long)
    with torch.no_grad():
        last = teacher_forced_hidden(model, inputs, empty, empty)[:, -1]
        logits = model.get_output_embeddings()(last).float()
    return [LETTERS[int(torch.argmax(row[letter_ids[:len(s.options)]]))] for row, s in zip(logits, batch)]


def _likeliest_options(model: Any, processor: Any, chats: Sequence[list[dict]], batch: Sequence[BenchItem]) -> list[str]:
    """Per item, the letter of the option whose text, as the whole reply, has the highest mean log-probability per token."""
    rows = [[*chat, {"role": "assistant", "content": [{"type": "text", "text": option}]}]
            for chat, s in zip(chats, batch) for option in s.options]
    total, count = reply_log_probs(model, processor, rows)
    score = (total / count).tolist()
    out, k = [], 0
    for s in batch:
        n = len(s.options)
        out.append(LETTERS[max(range(n), key=lambda j: score[k + j])])
        k += n
    return out


def _run_batch(model: Any, processor: Any, batch: list[BenchItem], data_root: str | Path, gc: Any,
               max_pixels: int | None, mode: str = "generate") -> list[BenchAnswer]:
    """Answer one batch; items whose media fail get error records and the rest are answered together."""
    records: dict[str, BenchAnswer] = {}
    chats: dict[str, list[dict]] = {}
    for s in batch:
        try:
            chats[s.id] = _prepared(s, data_root, max_pixels)
        except MEDIA_ERRORS as e:
            records[s.id] = _error(s, e)
    good = [s for s in batch if s.id in chats]
    try:
        inputs = _inputs(processor, [chats[s.id] for s in good]) if good else None
    except MEDIA_ERRORS:  # find the culprits one by one (decoding is repeated only on this path)
        for s in good:
            try:
                _inputs(processor, [chats[s.id]])
            except MEDIA_ERRORS as e:
                records[s.id] = _error(s, e)
        good = [s for s in good if s.id not in records]
        inputs = _inputs(processor, [chats[s.id] for s in good]) if good else None
    if inputs is not None and mode == "option":
        for s, letter in zip(good, _likeliest_options(model, processor, [chats[s.id] for s in good], good)):
            records[s.id] = BenchAnswer(s.id, s.task_type, f"{letter} (likeliest option)", letter, s.letter,
                                        letter == s.letter)
    elif inputs is not None and mode == "likelihood":
        inputs = inputs.to(next(model.parameters()).device)
        for s, letter in zip(good, _likeliest_letters(model, processor, inputs, good)):
            records[s.id] = BenchAnswer(s.id, s.task_type, f"{letter} (likeliest letter)", letter, s.letter,
                                        letter == s.letter)
    elif inputs is not None:
        device = next(model.parameters()).device
        inputs = inputs.to(device)
        with torch.no_grad():
            out = model.generate(**inputs, generation_config=gc)
        completion = out[:, inputs["input_ids"].shape[1]:]
        eos = gc.eos_token_id if isinstance(gc.eos_token_id, (list, tuple)) else [gc.eos_token_id]
        stops = stop_ids(model) | {int(i) for i in eos if i is not None}
        lengths = completion_lengths(completion, stops)
        texts = decode(processor, [row[:n] for row, n in zip(completion.tolist(), lengths)])
        for s, text in zip(good, texts):
            choice = parse_choice(text, s.options)
            records[s.id] = BenchAnswer(s.id, s.task_type, text, choice, s.letter, choice == s.letter)
    return [records[s.id] for s in batch]


def answer_questions(model: Any, processor: Any, samples: Sequence[BenchItem], data_root: str | Path,
                     out_path: str | Path, batch_size: int = 8, max_new_tokens: int = 16, *,
                     max_pixels: int | None = MAX_PIXELS, retry_errors: bool = False,
                     mode: str = "generate") -> list[dict]:
    """Answer every question (batched, greedy, resumable), append records to ``out_path``, return them in order.

    ``mode`` is ``generate`` (the paper's protocol: a greedy reply, parsed for the option letter) or
    ``likelihood`` (the option letter the model finds likeliest as the first token of its reply, for a
    model never taught to answer multiple-choice questions) or ``option`` (the option whose text, as the
    whole reply, has the highest mean log-probability per token: the cloze scoring of small language
    models, which asks the model to name what it perceives, not to bind it to a letter).

    Each record is a dict: ``sample_id``, ``task_type``, ``reply``, ``choice`` (the parsed letter or None),
    ``gold`` (the answer's letter), ``correct`` and ``error`` (None, or why the item's media could not be
    read). Item ids already in ``out_path`` are skipped, media errors included unless ``retry_errors``; a
    torn last line left by a killed run is dropped and the file rewritten. Images are scaled down to at most
    ``max_pixels`` pixels (None: as they are). The model runs in eval mode (its mode is restored).
    """
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise ValueError("item ids must be unique")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    out = Path(out_path)
    done: dict[str, BenchAnswer] = {}
    if out.exists():
        done, dirty = _load(out)
        if retry_errors and any(a.error for a in done.values()):
            done, dirty = {k: a for k, a in done.items() if not a.error}, True
        if dirty:
            write_lines((a.to_json() for a in done.values()), out)
    todo = [s for s in samples if s.id not in done]
    if len(todo) < len(samples):
        log.info("resuming %s: %d of %d questions already answered", out, len(samples) - len(todo), len(samples))
    gc = generation_config(model, processor, max_new_tokens, False, 1.0, 1.0, 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with tqdm(total=len(samples), initial=len(samples) - len(todo), desc="omnibench", unit="question") as bar:
            for start in range(0, len(todo), batch_size):
                answers = _run_batch(model, processor, list(todo[start:start + batch_size]), data_root, gc,
                                     max_pixels, mode)
                append_lines((a.to_json() for a in answers), out)
                done.update((a.sample_id, a) for a in answers)
                bar.update(len(answers))
    finally:
        model.train(was_training)
    errors = sum(1 for i in ids if done[i].error)
    if errors:
        log.warning("%d of %d questions skipped for media errors (records with 'error' set)", errors, len(ids))
    return [asdict(done[i]) for i in ids]


# ---- scoring -----------------------------------------------------------------------------------------------


def item_correct(record: Mapping[str, Any]) -> bool:
    """Whether an answered item's parsed choice is its gold option (an unparseable reply is wrong).

    >>> item_correct({"choice": "B", "gold": "B"}), item_correct({"choice": None, "gold": "B"})
    (True, False)
    """
    return record["choice"] is not None and record["choice"] == record["gold"]


def accuracy_by_task(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Accuracy per task type and overall (fractions); unparseable replies count as wrong and are counted.

    Columns: ``n`` (answered questions), ``correct``, ``accuracy``, ``unparseable`` and ``unparseable_rate``
    (among the answered), ``errors`` (items left out for media errors). Rows keep the task types' first
    appearance order, with ``overall`` (all answered questions pooled) last.

    >>> rec = lambda t, c, g, e=None: {"task_type": t, "choice": c, "gold": g, "error": e}
    >>> table = accuracy_by_task([rec("Colour", "A", "A"), rec("Colour", None, "B"), rec("Pitch", "C", "D"),
    ...                           rec("Pitch", None, "A", "MediaError: bad file")])
    >>> table["accuracy"].round(3).to_dict()
    {'Colour': 0.5, 'Pitch': 0.0, 'overall': 0.333}
    >>> table.loc["overall", ["n", "correct", "unparseable", "errors"]].tolist()
    [3, 1, 1, 1]
    """
    if not records:
        raise ValueError("no records to score")
    rows = []
    for r in records:
        missing = {"task_type", "choice", "gold"} - set(r)
        if missing:
            raise ValueError(f"record {r.get('sample_id', '?')!r} lacks {sorted(missing)}")
        error = bool(r.get("error"))
        rows.append({"task type": r["task_type"], "error": error, "answered": not error,
                     "correct": not error and item_correct(r),
                     "unparseable": not error and r["choice"] is None})
    frame = pd.DataFrame(rows)

    def summary(g: pd.DataFrame) -> dict[str, Any]:
        n = int(g["answered"].sum())
        return {"n": n, "correct": int(g["correct"].sum()), "accuracy": g["correct"].sum() / n if n else math.nan,
                "unparseable": int(g["unparseable"].sum()),
                "unparseable_rate": g["unparseable"].sum() / n if n else math.nan, "errors": int(g["error"].sum())}

    table = {task: summary(g) for task, g in frame.groupby("task type", sort=False)}
    table["overall"] = summary(frame)
    out = pd.DataFrame.from_dict(table, orient="index")
    out.index.name = "task type"
    return out
