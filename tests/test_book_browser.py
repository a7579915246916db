"""The built book in a real browser: every chapter page loads in headless Chromium and its figures are images.

Slow, and it needs the book built first (``make book``, or ``make book PROFILE=smoke``): it serves
``_build/html`` on loopback, renders each chapter in Chromium from Debian's ``chromium`` package,
takes a screenshot, and checks that the figures the rendered page shows are non-empty images.
"""

from __future__ import annotations

import functools
import http.server
import io
import re
import shutil
import subprocess
import threading
from urllib.request import urlopen

import numpy as np
import pytest
from PIL import Image

from emoomni.notebooks import notebooks
from emoomni.paths import REPO_ROOT

pytestmark = pytest.mark.slow
HTML = REPO_ROOT / "_build" / "html"
CHAPTERS = [nb.stem for nb in notebooks()]


@pytest.fixture(scope="module")
def server():
    """The built book served on a free loopback port."""
    if not (HTML / "index.html").exists():
        pytest.fail(f"{HTML} has no built book; run `make book` (or `make book PROFILE=smoke`) first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def chromium() -> str:
    """The headless browser (Debian's ``chromium`` package)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed; `apt-get install chromium` (scripts/setup.sh does on Debian)")
    return path


def _browse(chromium: str, url: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--run-all-compositor-stages-before-draw", "--virtual-time-budget=5000", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _image(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L"), dtype=float)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_renders_with_non_empty_figures(chapter, server, chromium, tmp_path):
    url = f"{server}/book/executed/{chapter}.html"
    dom = _browse(chromium, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<h1" in dom.stdout, f"{chapter}: the rendered page has no title"
    shot = tmp_path / f"{chapter}.png"
    result = _browse(chromium, url, f"--screenshot={shot}", "--window-size=1280,1600")
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    page = _image(shot.read_bytes())
    assert page.shape == (1600, 1280) and page.std() > 5, f"{chapter}: the screenshot is blank"
    sources = re.findall(r'<img[^>]+src="([^"]+)"', dom.stdout)
    for src in sources:
        if src.startswith("data:"):
            continue
        target = src if src.startswith("http") else f"{url.rsplit('/', 1)[0]}/{src}"
        with urlopen(target) as response:
            pixels = _image(response.read())
        assert min(pixels.shape) > 10 and pixels.std() > 1, f"{chapter}: {src} is an empty image"


def test_figure_chapters_show_figures(server, chromium):
    shown = {}
    for chapter in CHAPTERS:
        dom = _browse(chromium, f"{server}/book/executed/{chapter}.html", "--dump-dom").stdout
        shown[chapter] = len(re.findall(r"<img", dom))
    for chapter in ("00_synthemo", "03_cold_start_sft", "05_dyme_grpo", "06_alpha_ablation", "07_omnibench",
                    "08_results"):
        assert shown[chapter] > 0, f"{chapter} shows no figure: {shown}"
