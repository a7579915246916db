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
