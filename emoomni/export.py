"""Export OmniCoT records to TRL's conversational JSONL and to ms-swift JSONL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from emoomni.build import OmniCoTRecord
from emoomni.data.manifest import Sample, resolve_media
from emoomni.omnicot import render_style
from emoomni.prompts import SYSTEM, instruction
from emoomni.records import write_lines


def _media(sample: Sample, data_root: Path) -> tuple[str | None, str | None]:
    video = str(resolve_media(data_root, sample.video)) if sample.video else None
    audio = str(resolve_media(data_root, sample.audio)) if sample.audio else None
    return video, audio


def trl_row(record: OmniCoTRecord, sample: Sample, data_root: Path, labels: Sequence[str], style: str = "omnicot") -> dict:
    """One TRL conversational example: system, user (video / audio content entries, instruction), assistant."""
    video, audio = _media(sample, data_root)
    content = []
    if video:
        content.append({"type": "video", "video": video})
    if audio:
        content.append({"type": "audio", "audio": audio})
    content.append({"type": "text", "text": instruction(sample.id, labels)})
    return {
        "id": sample.id,
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": content},
            {"role": "assistant", "content": [{"type": "text", "text": render_style(record.trace, style)}]},
        ],
        "use_audio_in_video": bool(video and not audio and sample.meta.get("audio_in_video", True)),
    }


def swift_row(record: OmniCoTRecord, sample: Sample, data_root: Path, labels: Sequence[str], style: str = "omnicot") -> dict:
    """One ms-swift example: ``messages`` with ``<video>`` / ``<audio>`` tags, plus ``videos`` and ``audios``."""
    video, audio = _media(sample, data_root)
    tags = ("<video>" if video else "") + ("<audio>" if audio else "")
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": tags + instruction(sample.id, labels)},
            {"role": "assistant", "content": render_style(record.trace, style)},
        ],
        "videos": [video] if video else [],
        "audios": [audio] if audio else [],
    }


def export(records: Sequence[OmniCoTRecord], samples: Sequence[Sample], data_root: str | Path, out_dir: str | Path,
           labels: Sequence[str], style: str = "omnicot") -> dict[str, Path]:
    """Write ``trl.jsonl`` and ``swift.jsonl`` for the records (in record order); returns their paths."""
    by_id = {s.id: s for s in samples}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fn in (("trl", trl_row), ("swift", swift_row)):
        rows = [json.dumps(fn(r, by_id[r.sample_id], Path(data_root), labels, style), ensure_ascii=False) for r in records]
        paths[name] = write_lines(rows, out / f"{name}.jsonl")
    return paths
