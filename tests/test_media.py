import pytest

from emoomni.media import MediaError, probe
from tests.media_fixtures import make_clip, make_corrupt, make_wav


def test_probe_reports_streams(tmp_path):
    info = probe(make_clip(tmp_path / "av.mp4"))
    assert info.has_video and info.has_audio and info.width == 32 and info.sample_rate == 16000
    assert info.duration == pytest.approx(0.5, abs=0.1)
    silent = probe(make_clip(tmp_path / "v.mp4", audio=False))
    assert silent.has_video and not silent.has_audio
    wav = probe(make_wav(tmp_path / "a.wav"))
    assert wav.has_audio and not wav.has_video


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "file not found"),
        (lambda p: (p.write_bytes(b""), p)[1], "file is empty"),
        (make_corrupt, "corrupt or unreadable"),
    ],
)
def test_probe_errors_name_the_file(tmp_path, make, message):
    path = make(tmp_path / "clip.mp4")
    with pytest.raises(MediaError, match=rf"clip.mp4: {message}"):
        probe(path)


def test_decoded_media_come_from_memory_until_the_file_changes(tmp_path, monkeypatch):
    import os

    import numpy as np

    from emoomni import media
    from emoomni.model import inputs

    monkeypatch.setattr(media, "DECODED", media.DecodedCache(2 ** 30))
    monkeypatch.setattr(inputs, "DECODED", media.DECODED)
    path = str(make_clip(tmp_path / "av.mp4"))
    cold_video, cold_audio = media.read_frames(path), media.read_audio(path)
    calls = []
    for name in ("read_frames", "read_audio"):
        real = getattr(inputs, name)
        monkeypatch.setattr(inputs, name, lambda *a, real=real, **k: calls.append(1) or real(*a, **k))
    video = inputs.load_video(path, 4.0)
    assert np.array_equal(inputs.load_audio(path), cold_audio) and len(calls) == 2
    video[:] = 0  # callers get copies
    again = inputs.load_video(path, 4.0)
    assert np.array_equal(again, inputs.sample_frames(cold_video, inputs._native_fps(path), 4.0))
    assert np.array_equal(inputs.load_audio(path), cold_audio) and len(calls) == 2
    inputs.load_video(path, 2.0)  # decoded another way: decoded again
    assert len(calls) == 3
    make_clip(tmp_path / "av.mp4", audio=False)
    os.utime(path, ns=(0, 1))  # a new file at the same path
    with pytest.raises(MediaError, match="no audio stream"):
        inputs.load_audio(path)
    with pytest.raises(MediaError, match="gone.mp4: file not found"):
        inputs.load_video(str(tmp_path / "gone.mp4"), 4.0)
