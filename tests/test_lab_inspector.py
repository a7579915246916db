"""The inspector in a live JupyterLab: headless Chromium runs a notebook, changes the sample and clicks Run.

Slow. It starts ``jupyter lab`` on loopback (with the app exposed to the page), opens a notebook
that builds :class:`emoomni.report.widgets.Inspector` on the tiny thinker, and drives the page
through the Chrome DevTools protocol: run all cells, wait for the widget's views, pick another
sample in the browser's own dropdown, click the browser's Run button, and check that the kernel
answered with new views.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import nbformat
import numpy as np
import pytest
from PIL import Image

from emoomni.data.synthemo import generate
from tests.net import free_port

pytestmark = pytest.mark.slow
websocket = pytest.importorskip("websocket", reason="websocket-client comes with jupyterlab (the book extra)")

# the inspector is the last cell's result (the progress bars of model loading are widgets too)
ROOT = "Array.from(document.querySelectorAll('.jp-OutputArea-output')).pop()"
SELECTS = f"{ROOT}.querySelectorAll('.widget-dropdown select')"
HTMLS = f"{ROOT}.querySelectorAll('.widget-html-content')"
STATUS = f"({HTMLS}[0] || {{}}).textContent || ''"
IMAGES = f"Array.from({ROOT}.querySelectorAll('img.widget-image')).map(i => i.naturalWidth)"


def _wait(check, what: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None,
          page: Page | None = None):
    """Poll ``check`` until it returns something truthy; fail with ``what``, the page's last output and the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process exited with {proc.returncode} while waiting for {what}:\n"
                        f"{log.read_text()[-3000:] if log else ''}")
        value = check()
        if value:
            return value
        time.sleep(0.5)
    shown = page.safe(f"{ROOT}.innerText.slice(0, 2000)") if page is not None else None
    pytest.fail(f"no {what} in {timeout:.0f} s; the page shows: {shown!r}"
                + (f"\n{log.read_text()[-3000:]}" if log else ""))


def _stop(proc: subprocess.Popen) -> None:
    """Terminate a child process, killing it if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


class Page:
    """One browser tab driven over the Chrome DevTools protocol."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=120, suppress_origin=True)
        self.n = 0

    def call(self, method: str, **params):
        """Send one command and return its result."""
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.n:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]

    def eval(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def safe(self, expression: str):
        """Like :meth:`eval`, but None while the page is not ready to answer."""
        try:
            return self.eval(expression)
        except AssertionError:
            return None


@pytest.fixture(scope="module")
def lab(tiny, tmp_path_factory):
    """JupyterLab on a free loopback port, serving a notebook that builds the inspector on the tiny model."""
    exe = Path(sys.executable).with_name("jupyter-lab")
    if not exe.exists():
        pytest.fail("jupyter-lab is not installed beside this Python; pip install -e '.[book]'")
    root = tmp_path_factory.mktemp("lab")
    data = root / "data"
    generate(data, 3, seed=0)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "from emoomni.data.manifest import read_manifest\n"
        "from emoomni.report.widgets import Inspector\n"
        f"samples = read_manifest({str(data / 'manifest.jsonl')!r}, {str(data)!r})\n"
        f"inspector = Inspector({{'tiny': {str(tiny)!r}}}, samples, {str(data)!r}, 'synthemo', max_new_tokens=8)\n"
        "inspector.run()\n"
        "inspector.widget")]
    nbformat.write(nb, root / "inspect.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JUPYTER_CONFIG_DIR": str(root / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
           "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
    log = root / "lab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                                 f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                                 "--LabApp.expose_app_in_browser=True",
                                 *(["--allow-root"] if os.geteuid() == 0 else [])],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    try:
        def up():
            try:
                with urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        _wait(up, "JupyterLab server", 120, proc, log)
        yield f"http://127.0.0.1:{port}/lab/tree/inspect.ipynb?token={token}", root, log
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def page(lab):
    """Headless Chromium on the notebook, with its DevTools endpoint on a free port."""
    url, root, _ = lab
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed; `apt-get install chromium` (scripts/setup.sh does on Debian)")
    port = free_port()
    browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                f"--remote-debugging-port={port}", "--remote-allow-origins=*",
                                f"--user-data-dir={root / 'chromium'}",
                                "--window-size=1400,2000", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def tab():
            try:
                with urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page" and "/lab" in t.get("url", "")]
                return pages[0]["webSocketDebuggerUrl"] if pages else None
            except OSError:
                return None

        yield Page(_wait(tab, "browser tab", 60, browser))
    finally:
        _stop(browser)


def test_inspector_renders_and_answers_the_browser_in_jupyterlab(page, lab):
    _, root, log = lab
    ready = ("window.jupyterapp && jupyterapp.shell.currentWidget && jupyterapp.shell.currentWidget.sessionContext"
             " && jupyterapp.shell.currentWidget.sessionContext.session"
             " && jupyterapp.shell.currentWidget.sessionContext.session.kernel ? true : false")
    _wait(lambda: page.safe(ready), "notebook with a kernel", 180, log=log)
    page.eval("jupyterapp.shell.currentWidget.sessionContext.ready.then(() => "
              "jupyterapp.commands.execute('notebook:run-all-cells')).then(() => true)")
    _wait(lambda: (page.safe(f"{SELECTS}.length") or 0) >= 2 and "answer" in (page.safe(STATUS) or ""),
          "inspector with a finished analysis", 240, log=log, page=page)
    first = page.eval(STATUS)
    assert "tiny on synthemo-" in first and "tokens" in first, first
    widths = _wait(lambda: (lambda w: w if w and len(w) >= 2 and all(x > 0 for x in w) else None)(page.safe(IMAGES)),
                   "media and attention images", 30, log=log, page=page)
    assert len(widths) == 2
    trace = page.eval(f"{HTMLS}[2].innerHTML")
    assert "background" in trace  # tokens coloured by entropy
    options = page.eval(f"Array.from({SELECTS}[1].options).map(o => o.textContent)")
    assert len(options) == 3
    # the user picks the second clip in the page and clicks Run: the kernel must answer the browser
    page.eval(f"(() => {{ const s = {SELECTS}[1]; s.selectedIndex = 1;"
              " s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()")
    page.eval(f"(() => {{ Array.from({ROOT}.querySelectorAll('button.jupyter-button'))"
              ".find(b => b.textContent.includes('Run')).click(); return true; })()")
    second_id = options[1].split()[0]  # the option text holds a no-break space
    second = _wait(lambda: (lambda s: s if s and second_id in s and "answer" in s else None)(page.safe(STATUS)),
                   f"a new analysis of {second_id}", 120, log=log, page=page)
    assert second != first
    shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    (root / "lab.png").write_bytes(shot)
    with Image.open(io.BytesIO(shot)) as im:
        assert np.asarray(im.convert("L"), dtype=float).std() > 5
