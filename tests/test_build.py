"""The OmniCoT construction pipeline on the offline backends: records, caching, resumption, errors, exports."""

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from emoomni.build import build, read_records
from emoomni.data.synthemo import generate
from emoomni.export import export
from emoomni.extract.base import make_extractor
from emoomni.omnicot import is_valid, parse
from emoomni.extract.verify import make_verifier
from tests.media_fixtures import make_clip

LABELS = ("neutral", "happy", "sad", "angry", "worried", "surprised")


def _extractors():
    return {"vision": make_extractor("vision", "signal"), "audio": make_extractor("audio", "signal", baseline_clips=20),
            "dialogue": make_extractor("dialogue", "transcript")}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    samples = [s for s in generate(root, 30, seed=2, workers=2) if s.label]  # pre-training clips may have none
    broken = [
        replace(samples[0], id="broken-missing", video="clips/not-there.mp4"),
        replace(samples[1], id="broken-silent", video="clips/silent.mp4"),
    ]
    make_clip(root / "clips" / "silent.mp4", audio=False, size=112)
    return samples + broken, root


@pytest.fixture(scope="module")
def built(clips, tmp_path_factory):
    samples, root = clips
    out = tmp_path_factory.mktemp("built")
    return build(samples, root, out, _extractors(), make_verifier("rules"), LABELS, batch_size=8, workers=2), out


def test_build_writes_valid_records_a_verdict_per_sample_and_errors(clips, built):
    samples, root = clips
    r, tmp_path = built
    assert len(r.verdicts) == len(samples) and len(r.evidence) == len(samples)
    assert 0 < len(r.records) < len(samples)
    for rec in r.records:
        assert is_valid(rec.text) and parse(rec.text).answer == next(s.label for s in samples if s.id == rec.sample_id)
    assert [x.sample_id for x in read_records(tmp_path / "omnicot.jsonl")] == [x.sample_id for x in r.records]
    errs = {(e["sample_id"], e["stage"]) for e in r.errors}
    assert ("broken-missing", "vision evidence") in errs and ("broken-silent", "audio evidence") in errs
    missing = next(e for e in r.errors if e["sample_id"] == "broken-missing")
    assert "not-there.mp4" in missing["error"]
    assert not any(v.supported for v in r.verdicts if v.sample_id.startswith("broken"))
    assert len((tmp_path / "verdicts.jsonl").read_text().splitlines()) == len(samples)


def test_second_run_recomputes_nothing_and_writes_the_same(clips, built):
    samples, root = clips
    _, tmp_path = built
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.jsonl")}
    r = build(samples, root, tmp_path, _extractors(), make_verifier("rules"), LABELS, workers=1)
    assert r.computed == {"vision": 0, "audio": 0, "dialogue": 0, "verdicts": 0}
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.jsonl")} == before


def test_changing_a_backend_option_recomputes_only_that_modality(clips, built, tmp_path):
    samples, root = clips
    import shutil

    shutil.copytree(built[1] / "cache", tmp_path / "cache")
    ex = _extractors()
    ex["vision"] = make_extractor("vision", "signal", method="geometry")
    r = build(samples, root, tmp_path, ex, make_verifier("rules", min_votes=3), LABELS)
    assert r.computed["vision"] == len(samples) and r.computed["audio"] == 0 and r.computed["dialogue"] == 0


def test_killed_build_resumes_without_duplicates(clips, tmp_path):
    samples, root = clips
    good = samples[:-2]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(s.to_json() + "\n" for s in good))
    out = tmp_path / "out"
    code = (
        "import sys; from emoomni.data.manifest import read_manifest; from emoomni.build import build;"
        "from tests.test_build import _extractors, LABELS; from emoomni.extract.verify import make_verifier;"
        f"s = read_manifest({str(manifest)!r}); build(s, {str(root)!r}, {str(out)!r}, _extractors(),"
        "make_verifier('rules'), LABELS, batch_size=1, workers=1)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL, cwd=Path(__file__).parent.parent)
    journal = out / "cache"
    deadline = time.time() + 90
    while time.time() < deadline:
        files = list(journal.glob("evidence-vision-*.jsonl")) if journal.exists() else []
        if files and len(files[0].read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "omnicot.jsonl").exists(), "finished before the kill"
    r = build(good, root, out, _extractors(), make_verifier("rules"), LABELS)
    assert 0 < r.computed["vision"] < len(good)
    lines = (out / "evidence.jsonl").read_text().splitlines()
    assert len(lines) == len(good) == len({json.loads(x)["sample_id"] for x in lines})
    fresh = build(good, root, tmp_path / "fresh", _extractors(), make_verifier("rules"), LABELS)
    assert [x.to_json() for x in fresh.records] == [x.to_json() for x in r.records]


def test_exports(clips, built, tmp_path):
    samples, root = clips
    r = built[0]
    paths = export(r.records, samples, root, tmp_path, LABELS)
    trl = [json.loads(x) for x in paths["trl"].read_text().splitlines()]
    swift = [json.loads(x) for x in paths["swift"].read_text().splitlines()]
    assert len(trl) == len(swift) == len(r.records)
    roles = [m["role"] for m in trl[0]["messages"]]
    assert roles == ["system", "user", "assistant"]
    video = [c for c in trl[0]["messages"][1]["content"] if c["type"] == "video"][0]["video"]
    assert Path(video).is_file() and trl[0]["use_audio_in_video"] is True
    assert is_valid(trl[0]["messages"][2]["content"][0]["text"])
    assert swift[0]["messages"][1]["content"].startswith("<video>") and Path(swift[0]["videos"][0]).is_file()
    assert swift[0]["audios"] == [] and is_valid(swift[0]["messages"][2]["content"])
    nogt = export(r.records, samples, root, tmp_path / "nogt", LABELS, style="omnicot_nogt")
    assert "[vision]" not in nogt["trl"].read_text()


class _Flaky:
    """A verifier whose requests fail for one sample, as a server backend reports it."""

    name = "flaky"
    options = {}

    def judge(self, items, labels):
        from emoomni.extract.base import ExtractionError
        from emoomni.extract.verify import Verdict

        results = [None if ev.sample_id.endswith("1") else Verdict(ev.sample_id, False, "no", backend="flaky")
                   for ev, _ in items]
        err = ExtractionError("1 of n failed")
        err.results, err.errors = results, {ev.sample_id: "could not reach server" for ev, _ in items if ev.sample_id.endswith("1")}
        raise err


def test_failed_verifier_requests_are_reported_and_retried_not_cached(clips, built, tmp_path):
    from emoomni.build import judge_all

    samples, _ = clips
    r = built[0]
    verdicts, n = judge_all(r.evidence, [s.label for s in samples], _Flaky(), LABELS, tmp_path)
    failed = [v for v in verdicts if v.sample_id.endswith("1")]
    assert failed and all(v.supported is None and "could not reach server" in v.reason for v in failed)
    again, n2 = judge_all(r.evidence, [s.label for s in samples], _Flaky(), LABELS, tmp_path)
    assert n2 == len(failed)
