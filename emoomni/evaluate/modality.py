"""Modality reliance: counterfactual inputs with one modality removed, and how much the answers depend on it.

:func:`ablate` writes a copy of a sample set with one modality removed at inference:

- ``"vision"``: every video frame replaced by uniform grey (same size, frame count, timestamps, hence
  fps and duration); the audio streams are copied bit for bit.
- ``"audio"``: the sound the model hears silenced: the video's own track when the sample is read
  audio-in-video (frames copied bit for bit, the track re-encoded at volume 0, same duration), and a
  separate audio file replaced by a silent wav of the same length, rate and channels.
- ``"text"``: the transcript removed (``transcript=None``); the media are unchanged.
- ``"none"``: the samples and data root as given (the reference run).

An ablated set lives in ``out_root/<modality>/``, its own data root: generated media under their original
relative paths (a separate audio file that is not a ``.wav`` gets ``.wav`` appended), media the ablation
leaves untouched as symbolic links to the originals (copies where links are not possible), the ablated
``manifest.jsonl`` and the skip report ``skipped.json``. Each ablated sample pins ``meta["audio_in_video"]``
to the original's layout and records ``meta["ablated"]``. Samples with nothing to remove (no video for
``"vision"``, no sound for ``"audio"``, no transcript for ``"text"``) are excluded; samples whose media
are defective (unreadable, corrupt, a declared audio track missing) are skipped with the file and the
problem, and the run goes on. A generated file is written under a temporary name and renamed into
place, so an existing one is complete; it is reused unless its source is newer.

:func:`reliance_profile` compares predictions on an ablated set with the reference predictions,
:func:`guided_distribution` tabulates the guided-token statistics, :func:`dominant_modality` and
:func:`reliance_sentence` summarise.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd
from emoomni.progress import tqdm

from emoomni.data.manifest import ManifestError, Sample, SkipReport, resolve_media, write_manifest
from emoomni.evaluate.predict import Prediction
from emoomni.media import MediaError, MediaInfo, probe
from emoomni.records import write_lines
from emoomni.model import audio_in_video
from emoomni.train.rewards import modality_weights

log = logging.getLogger(__name__)

ABLATIONS = ("none", "vision", "audio", "text")
"""What :func:`ablate` can remove; ``"none"`` is the unablated reference."""
SKIPS = "skipped.json"
"""The skip report's file name inside an ablated set's folder."""
GREY = 128
"""The luma and chroma value of a blanked frame (mid grey)."""
_VIDEO_CODEC = {".webm": "libvpx-vp9"}
_AUDIO_CODEC = {".webm": "libopus", ".avi": "pcm_s16le", ".ogg": "libopus"}


class _Defect(Exception):
    """A per-sample media defect: the file, the kind of problem (the skip reason's head) and the details."""

    def __init__(self, path: Path, kind: str, detail: str):
        super().__init__(f"{kind}: {path}: {detail}")
        self.path, self.kind = path, kind


def _ffmpeg(args: list[str], dest: Path, src: Path) -> None:
    """Run ffmpeg on ``src`` into a temporary file beside ``dest``, then rename it into place."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is not installed or not on PATH; install it with `apt-get install ffmpeg`")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.stem}.part{dest.suffix}")
    cmd = [exe, "-v", "error", "-nostdin", "-y", "-i", str(src), *args, "-threads", "1", str(part)]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            tail = " ".join(run.stderr.strip().splitlines()[-3:])
            detail = tail or f"exit status {run.returncode}"
            raise _Defect(src, "ablation failed", f"ffmpeg could not rewrite it ({detail})")
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def _not_the_source(src: Path, dest: Path) -> None:
    """Refuse to write an ablated file over its own source (an out_root inside or linked to the data root)."""
    if dest.exists() and dest.resolve() == src.resolve():
        raise ValueError(f"{dest}: refusing to overwrite the source media with its ablated copy")


def _fresh(dest: Path, src: Path) -> bool:
    """Whether a generated file exists, is not empty and is not older than its source (never the source itself)."""
    _not_the_source(src, dest)
    return (dest.is_file() and not dest.is_symlink() and dest.stat().st_size > 0
            and dest.stat().st_mtime_ns >= src.stat().st_mtime_ns)


def _link(src: Path, dest: Path) -> None:
    """Make ``dest`` a symbolic link to ``src`` (a copy where links fail); an existing right link is kept."""
    target = os.path.abspath(src)
    if os.path.abspath(dest) == target:
        raise ValueError(f"{dest}: refusing to replace a source file with a link to itself")
    if dest.is_symlink() and os.readlink(dest) == target:
        return
    if dest.is_file() and not dest.is_symlink() and dest.stat().st_mtime_ns >= src.stat().st_mtime_ns \
            and dest.stat().st_size == src.stat().st_size:
        return  # a copy made where links fail
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.link")
    part.unlink(missing_ok=True)
    try:
        os.symlink(target, part)
    except OSError:
        shutil.copy2(src, part)
    os.replace(part, dest)


def _blank_video(src: Path, dest: Path) -> None:
    """Replace every frame with uniform grey (same size and timestamps) and copy the audio streams."""
    if _fresh(dest, src):
        return
    codec = _VIDEO_CODEC.get(dest.suffix.lower(), "libx264")
    _ffmpeg(["-map", "0:v:0", "-map", "0:a?", "-vf", f"lutyuv=y={GREY}:u={GREY}:v={GREY}",
             "-fps_mode", "passthrough", "-c:v", codec, "-c:a", "copy", "-sn", "-dn"], dest, src)


def _silence_video(src: Path, dest: Path) -> None:
    """Copy the video streams and re-encode the audio tracks at volume 0 (same duration)."""
    if _fresh(dest, src):
        return
    codec = _AUDIO_CODEC.get(dest.suffix.lower(), "aac")
    _ffmpeg(["-map", "0:v?", "-map", "0:a", "-c:v", "copy", "-af", "volume=0", "-c:a", codec, "-sn", "-dn"],
            dest, src)


def _silence_audio(src: Path, dest: Path) -> None:
    """Write a silent 16-bit wav with the length, rate and channels of the first audio stream of ``src``."""
    if _fresh(dest, src):
        return
    _ffmpeg(["-map", "0:a:0", "-af", "volume=0", "-c:a", "pcm_s16le", "-f", "wav"], dest, src)


def _wav_name(rel: str) -> str:
    """The relative path of a silenced audio file: the same path when it is a wav, else with ``.wav`` appended.

    >>> _wav_name("audio/a.wav"), _wav_name("audio/a.mp3")
    ('audio/a.wav', 'audio/a.mp3.wav')
    """
    return rel if rel.lower().endswith(".wav") else rel + ".wav"


def _media(root: Path, rel: str) -> tuple[Path, MediaInfo]:
    """The path of a media file inside ``root`` and what it holds; a missing or undecodable file is a defect."""
    path = resolve_media(root, rel)
    try:
        return path, probe(path)
    except MediaError as e:
        raise _Defect(path, "missing file" if not path.exists() else "unreadable media",
                      str(e).removeprefix(f"{path}: ")) from None


def _ablate_one(s: Sample, root: Path, dest_root: Path, modality: str, report: SkipReport) -> Sample | None:
    """The ablated copy of one sample, or None when it is excluded (nothing to remove)."""
    if modality == "text" and not (s.transcript and s.transcript.strip()):
        report.exclude("no transcript to remove")
        return None
    if modality == "vision" and not s.video:
        report.exclude("no video to blank")
        return None
    video, info = _media(root, s.video) if s.video else (None, None)
    aiv = audio_in_video(s, root)
    if modality == "audio" and not aiv and not s.audio:
        report.exclude("no audio to silence")
        return None
    audio = _media(root, s.audio)[0] if s.audio else None
    if video is not None:
        out = resolve_media(dest_root, s.video)
        if modality == "vision":
            if not info.has_video:
                raise _Defect(video, "no video stream", "nothing to blank")
            _blank_video(video, out)
        elif modality == "audio" and aiv:
            if not info.has_audio:
                raise _Defect(video, "no audio stream", "the sample's sound is this video's track, which is missing")
            _silence_video(video, out)
        else:
            _link(video, out)
    audio_rel = s.audio
    if audio is not None:
        if modality == "audio":
            audio_rel = _wav_name(s.audio)
            _silence_audio(audio, resolve_media(dest_root, audio_rel))
        else:
            _link(audio, resolve_media(dest_root, s.audio))
    meta = {**s.meta, "ablated": modality}
    if s.video:
        meta["audio_in_video"] = aiv
    return replace(s, audio=audio_rel, transcript=None if modality == "text" else s.transcript, meta=meta)


def ablate(samples: Sequence[Sample], data_root: str | Path, out_root: str | Path, modality: str,
           report: SkipReport | None = None) -> tuple[list[Sample], Path]:
    """Counterfactual copies of ``samples`` without ``modality``, and the data root to read them with.

    The ablated set is written to ``out_root/<modality>/`` (see the module docstring) with its
    manifest and skip report; ``"none"`` writes nothing and returns the samples and ``data_root``.
    Excluded and skipped samples are left out of the result and counted (with each skipped file and
    its problem) in ``report`` when given and in ``skipped.json``. Existing ablated files are reused.
    """
    if modality not in ABLATIONS:
        raise ValueError(f"unknown modality {modality!r}; choose one of {', '.join(ABLATIONS)}")
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise ValueError("sample ids must be unique")
    root = Path(data_root)
    if modality == "none":
        return list(samples), root
    dest_root = Path(out_root) / modality
    if dest_root.resolve() == root.resolve():
        raise ValueError(f"the ablated set's folder {dest_root} is the data root itself; choose another out_root")
    dest_root.mkdir(parents=True, exist_ok=True)
    report = report if report is not None else SkipReport(f"ablate {modality}")
    kept: list[Sample] = []
    for s in tqdm(samples, desc=f"ablate {modality}", unit="sample"):
        try:
            out = _ablate_one(s, root, dest_root, modality, report)
        except _Defect as e:
            report.skip(e.path, str(e))
            continue
        except ManifestError as e:
            report.skip(s.video or s.audio or s.id, f"bad media path: {e}")
            continue
        except OSError as e:
            report.skip(e.filename or s.video or s.audio or s.id, f"file error: {e}")
            continue
        if out is not None:
            kept.append(out)
    report.kept = len(kept)
    write_manifest(kept, dest_root / "manifest.jsonl")
    write_lines([json.dumps({"modality": modality, "kept": report.kept, "skipped": [list(x) for x in report.skipped],
                             "excluded": dict(report.excluded)}, indent=1)], dest_root / SKIPS)
    if report.skipped:
        log.warning("%s (details in %s)", report.summary(), dest_root / SKIPS)
    return kept, dest_root


def read_skips(ablated_root: str | Path) -> dict:
    """The skip report an :func:`ablate` run left in an ablated set's folder."""
    path = Path(ablated_root) / SKIPS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no skip report; run ablate first")
    return json.loads(path.read_text(encoding="utf-8"))


def _by_id(preds: Sequence[Prediction], what: str) -> dict[str, Prediction]:
    """Predictions keyed by sample id; duplicates are an error."""
    out: dict[str, Prediction] = {}
    for p in preds:
        if p.sample_id in out:
            raise ValueError(f"{what}: sample {p.sample_id!r} is predicted twice")
        out[p.sample_id] = p
    return out


def _rate(count: int, n: int) -> float:
    """``count / n``, NaN for no samples.

    >>> _rate(1, 4), _rate(0, 0)
    (0.25, nan)
    """
    return count / n if n else math.nan


def reliance_profile(reference: Sequence[Prediction], ablated: Mapping[str, Sequence[Prediction]]) -> pd.DataFrame:
    """Per ablated modality: sample count, flip rate, accuracy without and with the ablation, and the drop.

    Rates are fractions over the samples of each ablated set (which must all be in ``reference``, with the
    same gold label). A flip is any change of the extracted answer, to or from None included; None is wrong.

    >>> P = lambda i, answer: Prediction(f"s{i}", "", answer, "sad", False)
    >>> ref = [P(0, "sad"), P(1, "sad"), P(2, None), P(3, "happy")]
    >>> prof = reliance_profile(ref, {"vision": [P(0, "happy"), P(1, "sad"), P(2, None), P(3, "sad")],
    ...                               "text": [P(0, None), P(1, "sad")]})
    >>> prof.loc["vision"].tolist()
    [4.0, 0.5, 0.5, 0.5, 0.0]
    >>> prof.loc["text"].tolist()
    [2.0, 0.5, 1.0, 0.5, 0.5]
    """
    ref = _by_id(reference, "reference")
    rows = {}
    for modality, preds in ablated.items():
        flips = ref_ok = abl_ok = 0
        chosen = _by_id(preds, f"ablated {modality}")
        for sid, p in chosen.items():
            r = ref.get(sid)
            if r is None:
                raise ValueError(f"ablated {modality}: sample {sid!r} has no reference prediction")
            if r.gold != p.gold:
                raise ValueError(f"ablated {modality}: sample {sid!r} has gold {p.gold!r}, the reference {r.gold!r}")
            flips += r.answer != p.answer
            ref_ok += r.correct
            abl_ok += p.correct
        n = len(chosen)
        rows[modality] = {"n": n, "flip_rate": _rate(flips, n), "accuracy": _rate(ref_ok, n),
                          "ablated_accuracy": _rate(abl_ok, n), "accuracy_drop": _rate(ref_ok - abl_ok, n)}
    frame = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["n", "flip_rate", "accuracy", "ablated_accuracy", "accuracy_drop"])
    frame.index.name = "ablated"
    return frame


def guided_distribution(preds: Sequence[Prediction]) -> pd.DataFrame:
    """Per prediction: H_m and p_m at the guided tokens, the weights w_m (both tokens present only) and p*.

    >>> p = Prediction("s0", "", "sad", "sad", True, {"vision": {"entropy": 1.0, "prob": 0.5},
    ...                                               "audio": {"entropy": 2.0, "prob": 0.5}}, p_star=0.25)
    >>> row = guided_distribution([p, Prediction("s1", "", None, "sad", False, {"vision": None, "audio": None})])
    >>> row.round(4).loc["s0"].tolist()
    [1.0, 2.0, 0.5, 0.5, 0.6667, 0.3333, 0.25]
    >>> int(row.loc["s1"].isna().sum())
    7
    """
    rows = []
    for p in preds:
        h = {m: p.entropy(m) for m in ("vision", "audio")}
        pr = {m: p.prob(m) for m in ("vision", "audio")}
        both = all(v is not None for v in (*h.values(), *pr.values()))
        w = modality_weights(h, pr) if both else {"vision": None, "audio": None}
        rows.append({"sample_id": p.sample_id, "H_vision": h["vision"], "H_audio": h["audio"],
                     "p_vision": pr["vision"], "p_audio": pr["audio"], "w_vision": w["vision"],
                     "w_audio": w["audio"], "p_star": p.p_star})
    columns = ["sample_id", "H_vision", "H_audio", "p_vision", "p_audio", "w_vision", "w_audio", "p_star"]
    return pd.DataFrame(rows, columns=columns).set_index("sample_id").astype(float)


def dominant_modality(profile: pd.DataFrame) -> str:
    """The ablated modality whose removal lowers accuracy most (ties: the higher flip rate, then the first).

    >>> prof = pd.DataFrame({"accuracy_drop": [0.1, 0.3, 0.3], "flip_rate": [0.2, 0.4, 0.5]},
    ...                     index=["text", "vision", "audio"])
    >>> dominant_modality(prof)
    'audio'
    """
    rows = profile.drop(index=[m for m in ("none",) if m in profile.index]).dropna(subset=["accuracy_drop"])
    if rows.empty:
        raise ValueError("the profile has no ablated modality with samples")
    order = rows.assign(_pos=range(len(rows))).sort_values(["accuracy_drop", "flip_rate", "_pos"],
                                                          ascending=[False, False, True])
    return str(order.index[0])


def reliance_sentence(profiles: Mapping[str, pd.DataFrame]) -> str:
    """One sentence: the first model's dominant modality and whether removing it costs the last model less accuracy.

    >>> base = pd.DataFrame({"accuracy_drop": [0.4, 0.1], "flip_rate": [0.6, 0.2], "n": [10, 10]},
    ...                     index=["vision", "audio"])
    >>> dyme = pd.DataFrame({"accuracy_drop": [0.15, 0.2], "flip_rate": [0.3, 0.3], "n": [10, 10]},
    ...                     index=["vision", "audio"])
    >>> reliance_sentence({"base": base, "dyme": dyme})  # doctest: +NORMALIZE_WHITESPACE
    'Removing vision, the modality base relies on most, lowers its accuracy by 40.0 points and changes 60.0 %
    of its answers (n = 10), against 15.0 points and 30.0 % for dyme (n = 10, which now relies most on audio):
    reliance on vision went down.'
    >>> deaf = base.assign(accuracy_drop=0.0, flip_rate=0.0)
    >>> reliance_sentence({"sft": deaf, "dyme": dyme})  # doctest: +NORMALIZE_WHITESPACE
    'Removing any one modality changes none of the answers of sft (n = 10): it relies on none of them, so
    there is no dominant modality to measure a shift from; dyme changes 30.0 % of its answers without audio.'
    """
    if not profiles:
        raise ValueError("no profiles given")
    names = list(profiles)
    first, last = names[0], names[-1]
    if (profiles[first]["flip_rate"].fillna(0) == 0).all():
        n = int(profiles[first]["n"].max())
        head = (f"Removing any one modality changes none of the answers of {first} (n = {n}): it relies on none"
                " of them, so there is no dominant modality to measure a shift from")
        if len(names) == 1:
            return head + "."
        now = dominant_modality(profiles[last])
        flips = 100 * profiles[last].loc[now, "flip_rate"]
        return head + f"; {last} changes {flips:.1f} % of its answers without {now}."
    m = dominant_modality(profiles[first])
    a = profiles[first].loc[m]
    head = (f"Removing {m}, the modality {first} relies on most, lowers its accuracy by "
            f"{100 * a['accuracy_drop']:.1f} points and changes {100 * a['flip_rate']:.1f} % of its answers "
            f"(n = {int(a['n'])})")
    if len(names) == 1:
        return head + "."
    if m not in profiles[last].index or pd.isna(profiles[last].loc[m, "accuracy_drop"]):
        return head + f"; {last} has no predictions with {m} removed, so no comparison can be made."
    b = profiles[last].loc[m]
    da, db = round(100 * a["accuracy_drop"], 1), round(100 * b["accuracy_drop"], 1)
    verdict = "went down" if db < da else "did not change" if db == da else "went up"
    now = dominant_modality(profiles[last])
    also = "" if now == m else f", which now relies most on {now}"
    return (head + f", against {db:.1f} points and {100 * b['flip_rate']:.1f} % for {last} (n = {int(b['n'])}{also}): "
            f"reliance on {m} {verdict}.")


def reliance_profiles(results: Mapping[str, Mapping[str, Sequence[Prediction]]]) -> dict[str, pd.DataFrame]:
    """:func:`reliance_profile` per model from ``{model: {"none" | modality: predictions}}``."""
    return {name: reliance_profile(r["none"], {m: p for m, p in r.items() if m != "none"})
            for name, r in results.items()}
