"""OmniBench adapter: BenchItem JSONL round trip and indexing of the GitHub and Hugging Face layouts."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from emoomni.data import omnibench
from emoomni.data.manifest import ManifestError
from emoomni.data.omnibench import BenchItem
from tests.media_fixtures import make_corrupt, make_wav

OPTIONS = ["A cat sleeps.", "A dog barks.", "A man sings.", "A car passes."]


def _image(path: Path, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), (200, 30, 30)).save(path, fmt)
    return path


def _record(index: int, image: str, audio: str, answer: str = "A dog barks.", options: list[str] = OPTIONS) -> dict:
    return {"task type": "Action and Activity", "audio type": "sound event", "question": "What is heard?",
            "audio content": "barking", "image content": "a dog", "audio_path": audio, "image_path": image,
            "index": index, "answer": answer, "options": options}


@pytest.fixture(scope="module")
def github_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("OmniBench")
    _image(root / "mm_data" / "image" / "a.png")
    _image(root / "mm_data" / "image" / "b.jpg", "JPEG")
    make_corrupt(root / "mm_data" / "image" / "bad.png")
    noise = Image.frombytes("L", (64, 64), bytes(range(256)) * 16)
    noise.save(root / "mm_data" / "image" / "cut.png")
    png = (root / "mm_data" / "image" / "cut.png").read_bytes()
    (root / "mm_data" / "image" / "cut.png").write_bytes(png[: len(png) * 2 // 3])  # opens, but pixels are cut off
    make_wav(root / "mm_data" / "audio" / "a.wav")
    make_wav(root / "mm_data" / "audio" / "b.wav")
    make_corrupt(root / "mm_data" / "audio" / "bad.mp3")
    lines = [
        json.dumps(_record(0, "a.png", "a.wav")),  # bare names, joined onto mm_data/<kind>/
        json.dumps(_record(1, "mm_data/image/b.jpg", "mm_data/audio/b.wav", answer="A car passes.")),  # as given
        json.dumps(_record(2, "a.png", "a.wav", answer="A bird sings.")),
        json.dumps(_record(3, "a.png", "a.wav", options=OPTIONS[:3])),
        json.dumps(_record(4, "nope.png", "a.wav")),
        json.dumps(_record(5, "bad.png", "a.wav")),
        json.dumps(_record(6, "a.png", "bad.mp3")),
        '{"index": 7, "question": "truncated',
        json.dumps(_record(0, "a.png", "a.wav")),
        json.dumps(_record(9, "../outside.png", "a.wav")),
        json.dumps(_record(10, "cut.png", "a.wav")),
        json.dumps(_record(11, "a.png", "a.wav", answer=OPTIONS[0], options=OPTIONS[:1] + OPTIONS[:3])),
    ]
    (root / "dataset").mkdir()
    (root / "dataset" / "batch-5_1142_20240817.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "leaderboard_data.json").write_text("{}", encoding="utf-8")  # must not be taken for the items
    return root


def test_github_layout_counts_and_reasons(github_copy: Path) -> None:
    items, report = omnibench.index(github_copy)
    assert report.kept == len(items) == 2
    assert report.counts() == Counter(
        {"malformed row": 5, "unreadable media": 3, "answer not in options": 1, "missing file": 1}
    )
    reasons = {r: Path(f) for f, r in report.skipped}
    jsonl = "batch-5_1142_20240817.jsonl"
    by_line = {r.split(": ")[1]: (f, r) for r, f in reasons.items() if f.name == jsonl}
    assert set(by_line) == {"line 3", "line 4", "line 8", "line 9", "line 10", "line 12"}
    assert by_line["line 3"][1].startswith("answer not in options") and "expected 4" in by_line["line 4"][1]
    assert "invalid JSON" in by_line["line 8"][1] and "appears twice" in by_line["line 9"][1]
    assert "escapes the data root" in by_line["line 10"][1] and "two options are the same" in by_line["line 12"][1]
    others = sorted((r.split(":")[0], f.relative_to(github_copy).as_posix()) for r, f in reasons.items()
                    if f.name != jsonl)
    assert others == [("missing file", "mm_data/image/nope.png"), ("unreadable media", "mm_data/audio/bad.mp3"),
                      ("unreadable media", "mm_data/image/bad.png"), ("unreadable media", "mm_data/image/cut.png")]


def test_github_layout_items(github_copy: Path) -> None:
    items, _ = omnibench.index(github_copy)
    first, second = items
    assert (first.id, first.image, first.audio) == ("omnibench-0", "mm_data/image/a.png", "mm_data/audio/a.wav")
    assert (first.answer, first.answer_index, first.letter) == ("A dog barks.", 1, "B")
    assert (second.id, second.image, second.answer_index, second.letter) == ("omnibench-1", "mm_data/image/b.jpg", 3,
                                                                             "D")
    assert first.options == tuple(OPTIONS) and first.task_type == "Action and Activity"
    assert first.audio_type == "sound event" and first.meta["audio_content"] == "barking"
    for item in items:
        assert (github_copy / item.image).is_file() and (github_copy / item.audio).is_file()


def test_bench_item_jsonl_round_trip(github_copy: Path, tmp_path: Path) -> None:
    items, _ = omnibench.index(github_copy)
    line = json.loads(items[0].to_json())
    assert line["schema"] == 1 and line["options"] == OPTIONS
    assert BenchItem.from_dict(line) == items[0] and isinstance(BenchItem.from_dict(line).options, tuple)
    path = omnibench.write_items(items, tmp_path / "omnibench.jsonl")
    assert omnibench.read_items(path) == items
    with pytest.raises(ValueError, match="schema version 2"):
        BenchItem.from_dict({**line, "schema": 2})
    with pytest.raises(ValueError, match="unknown fields"):
        BenchItem.from_dict({**line, "colour": "red"})
    with pytest.raises(ValueError, match="is not option 0"):
        BenchItem.from_dict({**line, "answer_index": 0})
    with pytest.raises(ValueError, match="3 options"):
        BenchItem.from_dict({**line, "options": OPTIONS[:3]})
    path.write_text(path.read_text().replace('"schema": 1', '"schema": 3', 1), encoding="utf-8")
    with pytest.raises(ManifestError, match="omnibench.jsonl:1"):
        omnibench.read_items(path)


def test_json_list_and_file_discovery(tmp_path: Path) -> None:
    _image(tmp_path / "mm_data" / "image" / "x.png")
    make_wav(tmp_path / "mm_data" / "audio" / "x.wav")
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "omnibench.json").write_text(json.dumps([_record(5, "x.png", "x.wav")]), encoding="utf-8")
    items, report = omnibench.index(tmp_path)
    assert [(i.id, i.image) for i in items] == [("omnibench-5", "mm_data/image/x.png")] and report.skipped == []
    (tmp_path / "dataset" / "other.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="several OmniBench item files"):
        omnibench.index(tmp_path)
    assert len(omnibench.index(tmp_path, "dataset/other.json")[0]) == 0
    with pytest.raises(FileNotFoundError, match="no OmniBench items"):
        omnibench.index(tmp_path / "mm_data")


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    return buf.getvalue()


def test_parquet_with_embedded_media(tmp_path: Path) -> None:
    wav = make_wav(tmp_path / "src.wav").read_bytes()
    rows = [
        {**_record(0, "p0.png", "p0.wav"), "image": {"bytes": _png_bytes(), "path": "p0.png"},
         "audio": {"bytes": wav, "path": "p0.wav"}},
        {**_record(1, "p1.png", "p1.wav"), "image": {"bytes": b"not a png", "path": "p1.png"},
         "audio": {"bytes": wav, "path": "p1.wav"}},
    ]
    (tmp_path / "data").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "data" / "train-00000-of-00001.parquet")
    items, report = omnibench.index(tmp_path, extract_embedded=False)
    assert items == [] and report.counts() == Counter({"missing file": 2})
    items, report = omnibench.index(tmp_path)
    assert [(i.id, i.image, i.audio, i.options) for i in items] == [
        ("omnibench-0", "mm_data/image/p0.png", "mm_data/audio/p0.wav", tuple(OPTIONS))
    ]
    assert report.counts() == Counter({"unreadable media": 1}) and report.skipped[0][0].endswith("p1.png")
    assert json.loads(items[0].to_json())["meta"]["index"] == 0  # numpy scalars became plain ints
