"""RAVDESS adapter: index a local copy (any nesting of ``Actor_NN/`` folders) into Samples.

RAVDESS encodes everything in its file names, ``MM-VV-EE-II-SS-RR-AA.ext``: modality, vocal channel,
emotion, intensity, statement, repetition and actor. The zip files unpack as ``Actor_01/...`` below
whatever folder the user chose (``Video_Speech_Actor_01/Actor_01/``,
``Audio_Speech_Actors_01-24/Actor_01/``, ...), so the root is walked recursively.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from emoomni.progress import tqdm

from emoomni.data.common import check_media, check_root, relpath
from emoomni.data.manifest import Sample, SkipReport

log = logging.getLogger(__name__)

MODALITIES = {"01": "audio-video", "02": "video-only", "03": "audio-only"}
CHANNELS = {"01": "speech", "02": "song"}
EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgusted", "08": "surprised",
}
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
REPETITIONS = {"01": 1, "02": 2}
SUFFIX = {"01": ".mp4", "02": ".mp4", "03": ".wav"}
DEFAULT_SPLITS: dict[str, list[int]] = {
    "train": list(range(1, 17)), "val": list(range(17, 21)), "test": list(range(21, 25)),
}
_COPY = re.compile(r"^(?P<stem>.+?) ?\((?P<n>\d+)\)$")  # a browser's second download: "name (1).mp4"
_FIELDS = ("modality", "vocal_channel", "emotion", "intensity", "statement", "repetition", "actor")


def _decode(field: str, code: str, table: dict[str, Any]) -> Any:
    if code not in table:
        raise ValueError(f"{field} code {code!r} out of range (expected {min(table)}-{max(table)})")
    return table[code]


def parse_filename(name: str) -> dict[str, Any]:
    """Decode the seven fields of a RAVDESS file name (with or without its suffix).

    >>> d = parse_filename("03-01-07-02-01-02-12.wav")
    >>> d["modality"], d["vocal_channel"], d["emotion"], d["intensity"], d["actor"], d["gender"]
    ('03', 'speech', 'disgusted', 'strong', 12, 'female')
    >>> d["statement"], d["sentence"], d["repetition"]
    (1, 'Kids are talking by the door', 2)
    >>> parse_filename("01-02-03-01-02-01-07.mp4")["gender"]
    'male'
    >>> parse_filename("01-01-09-01-01-01-01.mp4")
    Traceback (most recent call last):
    ...
    ValueError: '01-01-09-01-01-01-01.mp4': emotion code '09' out of range (expected 01-08)
    >>> parse_filename("01-01-01-01-01-01.mp4")
    Traceback (most recent call last):
    ...
    ValueError: '01-01-01-01-01-01.mp4': expected 7 two-digit fields MM-VV-EE-II-SS-RR-AA, got 6 fields
    >>> parse_filename("01-01-01-01-01-01-01 (1).mp4")
    Traceback (most recent call last):
    ...
    ValueError: '01-01-01-01-01-01-01 (1).mp4': expected 7 two-digit fields MM-VV-EE-II-SS-RR-AA, field '01 (1)' is not two digits
    """
    suffix = Path(name).suffix
    stem = name[: -len(suffix)] if suffix.lower() in (".mp4", ".wav") else name
    parts = stem.split("-")
    if len(parts) != 7 or not all(len(p) == 2 and p.isdigit() for p in parts):
        bad = next(p for p in parts if not (len(p) == 2 and p.isdigit())) if len(parts) == 7 else None
        got = f"field {bad!r} is not two digits" if bad is not None else f"got {len(parts)} fields"
        raise ValueError(f"{name!r}: expected 7 two-digit fields MM-VV-EE-II-SS-RR-AA, {got}")
    codes = dict(zip(_FIELDS, parts))
    try:
        actor = int(codes["actor"])
        if not 1 <= actor <= 24:
            raise ValueError(f"actor code {codes['actor']!r} out of range (expected 01-24)")
        return {
            "modality": _decode("modality", codes["modality"], {k: k for k in MODALITIES}),
            "vocal_channel": _decode("vocal channel", codes["vocal_channel"], CHANNELS),
            "emotion": _decode("emotion", codes["emotion"], EMOTIONS),
            "intensity": _decode("intensity", codes["intensity"], INTENSITIES),
            "statement": int(codes["statement"]),
            "sentence": _decode("statement", codes["statement"], STATEMENTS),
            "repetition": _decode("repetition", codes["repetition"], REPETITIONS),
            "actor": actor,
            "gender": "male" if actor % 2 else "female",
        }
    except ValueError as e:
        raise ValueError(f"{name!r}: {e}") from None


def actor_split(actor: int, split_actors: dict[str, list[int]]) -> str | None:
    """The split an actor belongs to, or None.

    >>> actor_split(17, DEFAULT_SPLITS), actor_split(3, DEFAULT_SPLITS), actor_split(30, DEFAULT_SPLITS)
    ('val', 'train', None)
    """
    for split, actors in split_actors.items():
        if actor in actors:
            return split
    return None


def _parses(stem: str) -> bool:
    try:
        parse_filename(stem)
    except ValueError:
        return False
    return True


def _check_splits(split_actors: dict[str, list[int]]) -> None:
    seen: dict[int, str] = {}
    for split, actors in split_actors.items():
        for actor in actors:
            if actor in seen:
                raise ValueError(f"actor {actor} is in both split {seen[actor]!r} and {split!r} (must be disjoint)")
            seen[actor] = split


def _candidates(root: Path) -> list[Path]:
    """Media files under root, hidden files and macOS metadata folders left out."""
    files = [
        p for p in root.rglob("*")
        if p.suffix.lower() in (".mp4", ".wav") and not p.name.startswith(".") and "__MACOSX" not in p.parts
    ]
    return sorted(files, key=lambda p: p.as_posix())


def _usable(path: Path, modality: str, report: SkipReport) -> bool:
    """Probe the file: video clips need a video stream, 01 and 03 need an audio stream."""
    info = check_media(path, report, need_audio=modality in ("01", "03"))
    if info is None:
        return False
    if modality in ("01", "02") and not info.has_video:
        report.skip(path, f"no video stream: {path} has no video track")
        return False
    return True


def _sample(root: Path, path: Path, fields: dict[str, Any], split: str) -> Sample:
    rel = relpath(root, path)
    is_video = fields["modality"] in ("01", "02")
    meta = {
        "actor": fields["actor"], "gender": fields["gender"], "intensity": fields["intensity"],
        "statement": fields["statement"], "repetition": fields["repetition"],
        "modality": MODALITIES[fields["modality"]], "channel": fields["vocal_channel"],
    }
    if is_video:
        meta["audio_in_video"] = fields["modality"] == "01"
    return Sample(
        id=f"ravdess-{path.stem}", dataset="ravdess", split=split,
        video=rel if is_video else None, audio=None if is_video else rel,
        transcript=fields["sentence"], label=fields["emotion"], meta=meta,
    )


def index(
    root: str | Path,
    modalities: tuple[str, ...] | list[str] = ("01",),
    channel: str = "speech",
    split_actors: dict[str, list[int]] | None = None,
) -> tuple[list[Sample], SkipReport]:
    """Index a RAVDESS copy: one Sample per usable file of the chosen modalities and vocal channel.

    ``modalities`` takes the file-name codes: "01" audio-video clips (audio read from the video
    track, ``meta["audio_in_video"]``), "02" silent video, "03" audio-only wav. ``channel`` is
    "speech" or "song"; the two are never mixed. ``split_actors`` maps split names to actor
    numbers (default train 1-16, val 17-20, test 21-24) and must be disjoint.
    """
    root = check_root(root, "RAVDESS")
    if channel not in CHANNELS.values():
        raise ValueError(f"channel must be 'speech' or 'song', got {channel!r}")
    unknown = set(modalities) - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modality codes {sorted(unknown)}; known: {', '.join(MODALITIES)}")
    split_actors = DEFAULT_SPLITS if split_actors is None else split_actors
    _check_splits(split_actors)
    report, samples, seen = SkipReport("ravdess"), [], {}
    candidates = _candidates(root)
    actors = {p.parent.name for p in candidates if p.parent.name.startswith("Actor_")}
    report.layout = (f"RAVDESS: {len(candidates)} media files of {len(actors)} actors (Actor_NN folders)" if candidates
                     else "RAVDESS: no .mp4 or .wav file under the root (expected Actor_NN/MM-VV-EE-II-SS-RR-AA.mp4)")
    for path in tqdm(candidates, desc="RAVDESS", unit="file"):
        copy = _COPY.match(path.stem)
        if copy and _parses(copy["stem"]):
            report.skip(path, f"duplicate file: {path.name} is a second copy of {copy['stem']}{path.suffix}")
            continue
        try:
            fields = parse_filename(path.name)
        except ValueError as e:
            report.skip(path, f"unparseable filename: {e}")
            continue
        modality = fields["modality"]
        if path.suffix.lower() != SUFFIX[modality]:
            expected = SUFFIX[modality]
            report.skip(path, f"unparseable filename: {path.name}: modality {modality} expects {expected}")
            continue
        if modality not in modalities:
            report.exclude(f"modality {modality} ({MODALITIES[modality]}) not selected")
            continue
        if fields["vocal_channel"] != channel:
            report.exclude(f"channel {fields['vocal_channel']} not selected")
            continue
        split = actor_split(fields["actor"], split_actors)
        if split is None:
            report.exclude(f"actor {fields['actor']} in no split")
            continue
        if path.stem in seen:
            report.skip(path, f"duplicate file: same name as {seen[path.stem]}")
            continue
        if not _usable(path, modality, report):
            continue
        seen[path.stem] = path
        samples.append(_sample(root, path, fields, split))
    report.kept = len(samples)
    log.info(report.summary())
    return samples, report
