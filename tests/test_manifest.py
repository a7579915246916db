import json

import pytest

from emoomni.data.manifest import (
    SCHEMA_VERSION,
    ManifestError,
    Sample,
    SkipReport,
    read_manifest,
    resolve_media,
    validate_sample,
    write_manifest,
)
from tests.media_fixtures import make_wav


def _sample(**kw):
    base = dict(id="s1", dataset="meld", split="test", audio="a/s1.wav", transcript="Hi", label="happy", meta={"k": 1})
    base.update(kw)
    return Sample(**base)


def test_round_trip_with_schema_version(tmp_path):
    samples = [_sample(id=f"s{i}") for i in range(3)]
    path = write_manifest(samples, tmp_path / "m.jsonl")
    assert json.loads(path.read_text().splitlines()[0])["schema"] == SCHEMA_VERSION
    assert read_manifest(path) == samples


@pytest.mark.parametrize(
    "line, message",
    [
        ({"id": "x", "dataset": "meld", "split": "t", "audio": "a.wav"}, "schema version None"),
        ({"schema": 1, "dataset": "meld", "split": "t", "audio": "a.wav"}, "missing required fields"),
        ({"schema": 1, "id": "x", "dataset": "meld", "split": "t", "audio": "a.wav", "colour": 1}, "unknown fields"),
        ({"schema": 1, "id": "x", "dataset": "meld", "split": "t", "audio": "a.wav", "label": "calm"}, "not in label set"),
        ({"schema": 1, "id": "x", "dataset": "meld", "split": "t"}, "neither video nor audio"),
        ({"schema": 1, "id": "x", "dataset": "meld", "split": "t", "audio": "../../etc/passwd"}, "escapes the data root"),
        ({"schema": 1, "id": "x", "dataset": "meld", "split": "t", "audio": "/etc/passwd"}, "must be relative"),
    ],
)
def test_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    good = _sample().to_json()
    path.write_text(good + "\n" + json.dumps(line) + "\n")
    with pytest.raises(ManifestError, match=rf"bad.jsonl:2: .*{message}"):
        read_manifest(path, data_root=tmp_path / "root")


def test_malformed_json_and_duplicates(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(_sample().to_json() + "\n{not json\n")
    with pytest.raises(ManifestError, match="m.jsonl:2"):
        read_manifest(path)
    path.write_text(_sample().to_json() + "\n" + _sample().to_json() + "\n")
    with pytest.raises(ManifestError, match="m.jsonl:2: duplicate sample id 's1'"):
        read_manifest(path)


def test_missing_media_is_reported_when_checked(tmp_path):
    s = _sample()
    validate_sample(s, tmp_path)
    with pytest.raises(ManifestError, match="does not exist"):
        validate_sample(s, tmp_path, check_files=True)
    make_wav(tmp_path / "a" / "s1.wav")
    validate_sample(s, tmp_path, check_files=True)


def test_symlinks_inside_root_are_followed_but_dotdot_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    elsewhere = tmp_path / "other_disk"
    make_wav(elsewhere / "clip.wav")
    (root / "media").symlink_to(elsewhere)
    assert resolve_media(root, "media/clip.wav").is_file()
    for bad in ("media/../../secret.wav", "..", "."):
        with pytest.raises(ManifestError, match="escapes"):
            resolve_media(root, bad)


def test_label_set_from_meta():
    validate_sample(_sample(dataset="iemocap", label="excited", meta={"label_set": "iemocap6"}))
    with pytest.raises(ManifestError, match="iemocap4"):
        validate_sample(_sample(dataset="iemocap", label="excited", meta={"label_set": "iemocap4"}))


def test_skip_report_counts_by_reason():
    r = SkipReport("x")
    r.skip("a.mp4", "missing file: a.mp4 not found")
    r.skip("b.mp4", "missing file: b.mp4 not found")
    r.skip("c.mp4", "unreadable media: c.mp4 corrupt")
    r.exclude("label oth outside iemocap4")
    assert r.counts() == {"missing file": 2, "unreadable media": 1}
    assert "excluded, label oth outside iemocap4: 1" in r.summary()
