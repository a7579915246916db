"""IEMOCAP adapter: index ``IEMOCAP_full_release`` (Session1-5) into utterance Samples.

Labels come from ``SessionN/dialog/EmoEvaluation/<dialog>.txt``, audio from
``SessionN/sentences/wav/<dialog>/<turn>.wav``, transcripts from
``SessionN/dialog/transcriptions/<dialog>.txt`` and video from the split-screen dialog recording
``SessionN/dialog/avi/DivX/<dialog>.avi`` (one file per dialog; the utterance is the segment
``meta["video_segment"]`` on the speaker's half ``meta["video_side"]``). A missing or unreadable
avi leaves ``video=None`` with the reason in ``meta["video_missing"]``; the sample is kept.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoomni.progress import tqdm

from emoomni.data import common
from emoomni.data.common import check_media, decode_text, relpath
from emoomni.data.manifest import Sample, SkipReport
from emoomni.labels import LABEL_SETS

log = logging.getLogger(__name__)

# EmoEvaluation codes -> surface words that emoomni.labels knows; oth and xxx have no class
CODES: dict[str, str | None] = {
    "neu": "neutral", "hap": "happy", "exc": "excited", "sad": "sad", "ang": "angry", "fru": "frustrated",
    "fea": "fearful", "sur": "surprised", "dis": "disgusted", "oth": None, "xxx": None,
}
PROTOCOLS = ("iemocap4", "iemocap6", "iemocap_paper")
_NUM = r"\s*([0-9]+(?:\.[0-9]*)?)\s*"
_LABEL = re.compile(rf"^\[{_NUM}-{_NUM}\]\s+(\S+)\s+(\S+)\s+\[{_NUM},{_NUM},{_NUM}\]\s*$")
_TURN = re.compile(r"^(Ses(\d{2})([FM])_\w+?)_([FM])[A-Za-z0-9]*$")
_TRANSCRIPT = re.compile(r"^(Ses\S+)\s+\[[0-9.]+-[0-9.]+\]:\s?(.*)$")


@dataclass(frozen=True)
class LabelLine:
    """One utterance of an EmoEvaluation file: time span, turn name, code, valence/activation/dominance."""

    start: float
    end: float
    turn: str
    code: str
    vad: tuple[float, float, float]


def parse_label_line(line: str) -> LabelLine:
    """Parse an EmoEvaluation label line; raise ValueError if it does not parse.

    >>> parse_label_line("[6.2901 - 8.2357]\\tSes01F_impro01_F000\\tneu\\t[2.5000, 2.5000, 2.5000]")
    LabelLine(start=6.2901, end=8.2357, turn='Ses01F_impro01_F000', code='neu', vad=(2.5, 2.5, 2.5))
    >>> parse_label_line("[6.29 - ]\\tSes01F_impro01_F000\\tneu")
    Traceback (most recent call last):
    ...
    ValueError: not a label line '[6.29 - ]\\tSes01F_impro01_F000\\tneu'
    """
    m = _LABEL.match(line.strip())
    if not m:
        raise ValueError(f"not a label line {line.strip()!r}")
    start, end, turn, code, v, a, d = m.groups()
    return LabelLine(float(start), float(end), turn, code, (float(v), float(a), float(d)))


def parse_turn(turn: str) -> dict[str, Any]:
    """Split a turn name into dialog, session, the session's marker actor and the speaker.

    >>> parse_turn("Ses01F_impro01_F000")
    {'dialog': 'Ses01F_impro01', 'session': 1, 'marker': 'F', 'speaker': 'F'}
    >>> parse_turn("Ses05M_script01_1b_F012")["dialog"], parse_turn("Ses05M_script01_1b_F012")["speaker"]
    ('Ses05M_script01_1b', 'F')
    """
    m = _TURN.match(turn)
    if not m:
        raise ValueError(f"not an IEMOCAP turn name {turn!r}")
    dialog, session, marker, speaker = m.groups()
    return {"dialog": dialog, "session": int(session), "marker": marker, "speaker": speaker}


def parse_transcripts(text: str) -> dict[str, str]:
    """Map turn names to utterance text; lines that are not ``TURN [start-end]: text`` are ignored.

    >>> parse_transcripts("Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\\nM: [BREATHING]\\n")
    {'Ses01F_impro01_F000': 'Excuse me.'}
    """
    out = {}
    for line in text.splitlines():
        m = _TRANSCRIPT.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def video_side(speaker: str, marker: str, marker_side: str) -> str:
    """The half of the split-screen frame that shows ``speaker``.

    >>> video_side("F", "F", "left"), video_side("M", "F", "left"), video_side("M", "F", "right")
    ('left', 'right', 'left')
    """
    other = {"left": "right", "right": "left"}[marker_side]
    return marker_side if speaker == marker else other


BASES = (".", "IEMOCAP_full_release", "*/IEMOCAP_full_release")


def _sessions_in(base: Path) -> list[tuple[int, Path]]:
    return sorted((int(p.name[7:]), p) for p in base.glob("Session*") if p.is_dir() and p.name[7:].isdigit())


def find_base(root: str | Path) -> Path:
    """The release folder holding Session1..Session5: the root, IEMOCAP_full_release/ or */IEMOCAP_full_release/."""
    return common.find_base(root, "IEMOCAP", BASES, lambda base: bool(_sessions_in(base)),
                            "the IEMOCAP release's Session1..Session5 folders")


class _Videos:
    """Dialog videos, probed once per dialog; a missing or unreadable avi only means no video."""

    def __init__(self, root: Path) -> None:
        self.root, self.cache = root, {}

    def get(self, session_dir: Path, dialog: str) -> tuple[str | None, str | None]:
        """(relative avi path or None, note on why there is no video or None)."""
        if dialog not in self.cache:
            avi = session_dir / "dialog" / "avi" / "DivX" / f"{dialog}.avi"
            scratch = SkipReport("iemocap-video")
            info = check_media(avi, scratch)
            if info is None or not info.has_video:
                note = scratch.skipped[0][1] if scratch.skipped else f"no video stream: {avi}"
                log.warning("IEMOCAP dialog %s: no usable video (%s)", dialog, note)
                self.cache[dialog] = (None, note)
            else:
                self.cache[dialog] = (relpath(self.root, avi), None)
        return self.cache[dialog]


def _label_lines(path: Path, report: SkipReport):
    """Yield (line number, LabelLine) for the label lines of one EmoEvaluation file."""
    for lineno, line in enumerate(decode_text(path).splitlines(), 1):
        if not line.startswith("["):
            continue  # header (%), blank lines and annotator lines (C-E1:, A-F2: ...)
        try:
            yield lineno, parse_label_line(line)
        except ValueError as e:
            report.skip(path, f"unparseable label line: {path}:{lineno}: {e}")


def _meta(lab: LabelLine, turn: dict[str, Any], protocol: str, marker_side: str) -> dict[str, Any]:
    return {
        "label_set": protocol, "session": turn["session"], "dialog": turn["dialog"],
        "speaker": f"Ses{turn['session']:02d}{turn['speaker']}",
        "gender": {"F": "female", "M": "male"}[turn["speaker"]], "code": lab.code,
        "valence": lab.vad[0], "activation": lab.vad[1], "dominance": lab.vad[2],
        "video_segment": [lab.start, lab.end],
        "video_side": video_side(turn["speaker"], turn["marker"], marker_side),
    }


def _index_file(root: Path, session_dir: Path, eval_file: Path, ctx: dict[str, Any]) -> list[Sample]:
    report, protocol = ctx["report"], ctx["protocol"]
    dialog = eval_file.stem
    tfile = session_dir / "dialog" / "transcriptions" / f"{dialog}.txt"
    transcripts = parse_transcripts(decode_text(tfile)) if tfile.is_file() else {}
    samples = []
    for lineno, lab in _label_lines(eval_file, report):
        try:
            turn = parse_turn(lab.turn)
        except ValueError as e:
            report.skip(eval_file, f"unparseable label line: {eval_file}:{lineno}: {e}")
            continue
        if lab.code not in CODES:
            report.skip(eval_file, f"unknown label: {eval_file}:{lineno}: code {lab.code!r}")
            continue
        label = LABEL_SETS[protocol].canonical(CODES[lab.code]) if CODES[lab.code] else None
        if label is None:
            report.exclude(f"label {lab.code} outside {protocol}")
            continue
        wav = session_dir / "sentences" / "wav" / turn["dialog"] / f"{lab.turn}.wav"
        if check_media(wav, report, need_audio=True) is None:
            continue
        video, note = ctx["videos"].get(session_dir, turn["dialog"])
        meta = _meta(lab, turn, protocol, ctx["marker_side"])
        if video is None:
            meta["video_missing"] = note
        split = "test" if turn["session"] == ctx["test_session"] else "train"
        samples.append(Sample(
            id=f"iemocap-{lab.turn}", dataset="iemocap", split=split, video=video, audio=relpath(root, wav),
            transcript=transcripts.get(lab.turn), label=label, meta=meta,
        ))
    return samples


def index(
    root: str | Path, protocol: str = "iemocap4", test_session: int = 5, marker_side: str = "left"
) -> tuple[list[Sample], SkipReport]:
    """Index IEMOCAP utterances under a class protocol, with session folds (one test session).

    The root may be the release folder itself or a folder holding ``IEMOCAP_full_release/``;
    media paths stay relative to the root given.

    ``protocol``: "iemocap4" (neutral, happy = hap + exc, sad, angry), "iemocap6" (neutral, happy,
    sad, angry, excited, frustrated) or "iemocap_paper" (neutral, happy, sad, angry, fearful,
    surprised: the six classes of the EmoOmni paper's IEMOCAP table). Other codes are excluded.
    ``test_session`` goes to split "test", the other sessions to "train".
    ``marker_side`` says which half ("left" or "right") of the split-screen dialog video shows the
    actor named in the session file name (F in ``Ses01F_...``, the one wearing motion-capture
    markers); the other actor is on the other half. Verify it against one frame of your copy
    before cropping faces, e.g. ``ffmpeg -i Session1/dialog/avi/DivX/Ses01F_impro01.avi -frames:v 1 f.png``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown IEMOCAP protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if marker_side not in ("left", "right"):
        raise ValueError(f"marker_side must be 'left' or 'right', got {marker_side!r}")
    root = Path(root)
    base = find_base(root)
    sessions = _sessions_in(base)
    if test_session not in {n for n, _ in sessions}:
        raise ValueError(f"test_session {test_session} has no Session{test_session} folder under {base}")
    report = SkipReport("iemocap")
    names = ", ".join(d.name for _, d in sessions)
    report.layout = f"IEMOCAP_full_release ({names}) in {common.where(root, base)}"
    ctx = {"report": report, "protocol": protocol, "test_session": test_session,
           "marker_side": marker_side, "videos": _Videos(root)}
    files = [(d, f) for _, d in sessions for f in sorted((d / "dialog" / "EmoEvaluation").glob("Ses*.txt"))]
    samples = []
    for session_dir, eval_file in tqdm(files, desc="IEMOCAP", unit="dialog"):
        samples += _index_file(root, session_dir, eval_file, ctx)
    samples = _dedupe(samples, report)
    report.kept = len(samples)
    log.info(report.summary())
    return samples, report


def _dedupe(samples: list[Sample], report: SkipReport) -> list[Sample]:
    """Keep the first Sample of each turn name; later ones are skipped as duplicates."""
    seen, out = set(), []
    for s in samples:
        if s.id in seen:
            report.skip(s.audio, f"duplicate label line: turn {s.id.removeprefix('iemocap-')} labelled twice")
            continue
        seen.add(s.id)
        out.append(s)
    return out
