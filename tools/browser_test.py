"""The classroom path in a real browser: every notebook run in JupyterLab, every slider moved, HTML read offline.

    python tools/browser_test.py                       # notebooks/*.ipynb in Lab, FAST mode
    python tools/browser_test.py --html build/*.html   # also: make tour's pages, with the network off
    python tools/browser_test.py --only-html build/*.html

What it does, as a student would:
1. copies the notebooks into build/browser/work/ (the clone's files are never opened, so never saved into);
2. starts JupyterLab there on a free local port with a fresh token, ``HDREDU_FAST=1`` in its environment;
3. drives headless Chromium (Debian's ``/usr/bin/chromium``, through Playwright) to open each notebook, run
   Run → Run All Cells, wait until every code cell has run and the kernel is idle, and read the saved notebook
   back through Lab's REST API to assert that no cell raised;
4. drags every ipywidgets slider with the mouse and asserts that the figure under it changed (its PNG bytes);
5. opens each HTML page given with ``--html`` offline (every non-file request aborted) and asserts that
   MathJax typeset the formulas (no raw ``$…$`` left) and that every widget cell left a static image.

Screenshots go to build/browser/. Every process it starts (Lab, its kernels, Chromium) is stopped in
``finally``, on failure too. Exit 0 when all pass, 1 otherwise, 0 with "skipped: no chromium" where
/usr/bin/chromium is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]

# Lab settings for a predictable page: every cell in the DOM (no windowing), no news or update pop-ups.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none",
                                                                   "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
}


def log(message: str) -> None:
    print(f"[browser-test {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """JupyterLab in its own process group on 127.0.0.1, stopped (group and all) by :meth:`stop`."""

    def __init__(self, root_dir: Path, log_path: Path, extra_args: tuple[str, ...] = ()):
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        settings = Path(tempfile.mkdtemp(prefix="hdredu-lab-settings-"))
        for name, values in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values))
        self.settings_dir = settings
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.open_browser=False",
                   "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root_dir}",
                   f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={settings}",
                   "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        command += [*extra_args, "--allow-root"] if os.geteuid() == 0 else list(extra_args)
        env = {**os.environ, "HDREDU_FAST": "1", "PYTHONUNBUFFERED": "1"}
        self.log_file = open(log_path, "w")
        self.process = subprocess.Popen(command, stdout=self.log_file, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)  # its own group: kernels die with it

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        request = urllib.request.Request(f"{self.base}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}; see {self.log_file.name}")
            try:
                self.api("/api/status")
                return
            except OSError:
                time.sleep(1)
        raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s; see {self.log_file.name}")

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"

    def stop(self) -> None:
        if self.process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:  # kernels that left the group (none should) still die with their parent's group id
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log_file.close()
        shutil.rmtree(self.settings_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# One notebook in Lab
# ---------------------------------------------------------------------------------------------------------

PROGRESS_JS = """() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')];
    const counts = prompts.map(p => p.textContent.trim());
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return {cells: counts.length, done: counts.filter(c => /^\\[\\d+\\]:$/.test(c)).length,
            running: counts.filter(c => c === '[*]:').length,
            idle: status ? status.getAttribute('data-status') === 'idle' : null};
}"""


def kernel_idle(lab: Lab, notebook: str) -> bool:
    """The notebook's kernel, as the server sees it, is started and idle."""
    sessions = [s for s in lab.api("/api/sessions") if s.get("path", "").endswith(notebook)]
    return bool(sessions) and sessions[0]["kernel"]["execution_state"] == "idle"


def run_all(page, lab: Lab, notebook: str, timeout: float) -> float:
    """Run → Run All Cells; wait until every code cell has an execution count and the kernel is idle."""
    name = Path(notebook).stem
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    deadline = time.monotonic() + 300
    while not (kernel_idle(lab, notebook) and page.evaluate(PROGRESS_JS)["idle"]):
        select = page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel", if the setting did not apply
        if select.count():
            select.first.click()
        assert time.monotonic() < deadline, f"{name}: the kernel did not start within 300 s"
        page.wait_for_timeout(1000)
    page.wait_for_timeout(2000)  # let the page settle (the cell count stops growing)
    started = time.monotonic()
    last, begun, clicked = None, False, None
    while True:
        if not begun and (clicked is None or time.monotonic() - clicked > 30):  # (again, if it was not taken)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
            clicked = time.monotonic()
        progress = page.evaluate(PROGRESS_JS)
        if progress != last:
            log(f"{name}: {progress['done']}/{progress['cells']} code cells run, kernel idle = {progress['idle']}")
            last = progress
        begun = begun or progress["done"] > 0 or progress["running"] > 0
        if begun and progress["done"] == progress["cells"] and progress["idle"]:
            return time.monotonic() - started
        if begun and progress["idle"] and progress["running"] == 0 and progress["done"] < progress["cells"]:
            # Lab clears the queue after an error: idle with cells left unrun means one raised
            raise AssertionError(f"{name}: Run All stopped after {progress['done']} of {progress['cells']} cells")
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{name}: not finished after {timeout:.0f} s ({progress})")
        page.wait_for_timeout(2000)


def saved_errors(lab: Lab, page, notebook: str) -> list[str]:
    """Save the notebook (Ctrl+S) and read it back: the error outputs of its cells, as 'cell N: Name: value'."""
    modified = lab.api(f"/api/contents/{notebook}?content=0")["last_modified"]
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    for _ in range(60):
        content = lab.api(f"/api/contents/{notebook}?content=1")
        if content["last_modified"] != modified:
            break
        time.sleep(0.5)
    else:
        raise TimeoutError(f"{notebook}: Ctrl+S did not save within 30 s")
    errors = []
    for index, cell in enumerate(content["content"]["cells"]):
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                errors.append(f"cell {index}: {output['ename']}: {output['evalue']}")
    return errors


def figure_src(box) -> str | None:
    images = box.locator(".widget-output img")
    return images.first.get_attribute("src") if images.count() else None


def drag_sliders(page, name: str, shots: Path) -> list[str]:
    """Drag every slider from its position to 80 % of its track; the figure under it must change."""
    sliders = page.locator(".jp-OutputArea .widget-slider")
    moved = []
    for index in range(sliders.count()):
        slider = sliders.nth(index)
        box = slider.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
        slider.scroll_into_view_if_needed()
        label = slider.locator(".widget-readout").inner_text().strip()
        before = figure_src(box)
        assert before, f"{name}: slider {index + 1} has no figure in its output before it moves"
        cell_outputs = box.locator("xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' jp-OutputArea ')][1]")
        static = cell_outputs.locator(":scope > .jp-OutputArea-child img")  # the strip under the widget
        assert static.count() >= 1, f"{name}: slider {index + 1} left no static figure under it"
        cell_outputs.screenshot(path=str(shots / f"{name}-slider{index + 1}-before.png"))
        track = slider.locator(".noUi-target, .slider-container").first.bounding_box()
        handle = slider.locator(".noUi-handle").first.bounding_box()
        page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + 0.8 * track["width"], track["y"] + track["height"] / 2, steps=8)
        page.mouse.up()
        readout = slider.locator(".widget-readout").inner_text().strip()
        assert readout != label, f"{name}: slider {index + 1} did not move (readout still {label})"
        deadline = time.monotonic() + 120
        while figure_src(box) in (before, None):
            assert time.monotonic() < deadline, f"{name}: slider {index + 1} moved {label} → {readout}, figure unchanged"
            page.wait_for_timeout(250)
        page.wait_for_timeout(300)
        cell_outputs.screenshot(path=str(shots / f"{name}-slider{index + 1}-after.png"))
        moved.append(f"{label} → {readout}")
        log(f"{name}: slider {index + 1} dragged {label} → {readout}: figure redrawn")
    return moved


def check_notebook(browser, lab: Lab, notebook: str, shots: Path, timeout: float) -> dict:
    name = Path(notebook).stem
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(lab.url(notebook), wait_until="domcontentloaded", timeout=120_000)
        run_seconds = run_all(page, lab, notebook, timeout)
        page.screenshot(path=str(shots / f"{name}-run.png"))
        errors = saved_errors(lab, page, notebook)
        assert not errors, f"{name}: cells raised: {errors}"
        started = time.monotonic()
        moved = drag_sliders(page, name, shots)
        return {"notebook": name, "run_all_s": round(run_seconds, 1), "sliders": moved,
                "sliders_s": round(time.monotonic() - started, 1)}
    except Exception:
        page.screenshot(path=str(shots / f"{name}-FAILED.png"))
        raise
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------------------
# make tour's HTML, offline
# ---------------------------------------------------------------------------------------------------------

HTML_JS = """() => {
    const markdown = [...document.querySelectorAll('.jp-MarkdownOutput, .jp-RenderedMarkdown, .text_cell_render')];
    const text = markdown.map(m => m.innerText).join('\\n');
    const raw = text.match(/\\$[^$\\n]{1,80}\\$/g) || [];
    const typeset = document.querySelectorAll('.MathJax, .MathJax_CHTML, .MathJax_SVG, mjx-container').length;
    // a widget output: its view (when the widget state was saved) or its text fallback (when not)
    const widgetCells = [...document.querySelectorAll('.jp-Cell, .cell')].filter(
        c => c.querySelector('script[type="application/vnd.jupyter.widget-view+json"]')
             || [...c.querySelectorAll('.jp-OutputArea-output pre, .output_text pre')].some(
                    p => /^(VBox|HBox|Box|interactive|\\w*Slider)\\(/.test(p.textContent.trim())));
    widgetCells.forEach(c => c.setAttribute('data-browser-test-widget', ''));
    const blank = widgetCells.filter(c => ![...c.querySelectorAll('img')].some(i => i.naturalWidth > 0)).length;
    const images = [...document.querySelectorAll('img')];
    return {raw: raw.slice(0, 5), typeset, widgetCells: widgetCells.length, blankWidgetCells: blank,
            images: images.length, brokenImages: images.filter(i => !i.complete || i.naturalWidth === 0).length};
}"""


def check_html(browser, html: Path, shots: Path, prefix: str = "tour") -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_offline(True)
    blocked = []

    def only_files(route):
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_files)
    page = context.new_page()
    try:
        page.goto(html.resolve().as_uri(), wait_until="load", timeout=120_000)
        # MathJax 2 loaded (from the copy next to the page: the network is off) and done typesetting
        try:
            page.wait_for_function("() => window.MathJax && MathJax.isReady && MathJax.Hub.queue.pending === 0"
                                   " && !MathJax.Hub.queue.running", timeout=60_000)
        except PlaywrightTimeout:
            raise AssertionError(f"{html.name}: MathJax did not load and typeset within 60 s with the network off "
                                 f"(blocked: {blocked[:3]})") from None
        page.wait_for_timeout(500)
        result = page.evaluate(HTML_JS)
        result["math"] = page.locator('script[type^="math/tex"]').count()  # formulas MathJax found
        page.screenshot(path=str(shots / f"{prefix}-{html.stem}.png"))  # the top: title and first formulas
        if result["widgetCells"]:
            widget_cell = page.locator("[data-browser-test-widget]").first
            widget_cell.screenshot(path=str(shots / f"{prefix}-{html.stem}-widget.png"))
        assert not result["raw"], f"{html.name}: formulas left as raw TeX offline: {result}"
        assert result["typeset"] >= min(result["math"], 1), f"{html.name}: formulas not typeset offline: {result}"
        assert result["blankWidgetCells"] == 0, f"{html.name}: a widget cell left no image: {result}"
        assert result["images"] > 0 and result["brokenImages"] == 0, f"{html.name}: images missing: {result}"
        log(f"{html.name} offline: {result['typeset']} formulas typeset, {result['images']} images, "
            f"{result['widgetCells']} widget cells each with a static image; {len(blocked)} requests blocked")
        return {"html": html.name, **result, "blocked": len(blocked)}
    finally:
        context.close()


MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"  # the one combined config jupyter-server-mathjax ships


def export_html(notebook: Path, out_dir: Path) -> Path:
    """The notebook as Lab saved it (outputs included) → HTML as `make tour` writes it: MathJax from the
    jupyter-server-mathjax package, copied next to the page and referenced relatively (no CDN)."""
    import jupyter_server_mathjax

    mathjax = out_dir / "mathjax"
    if not mathjax.exists():
        shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", mathjax)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--log-level=WARN",
                    f"--HTMLExporter.mathjax_url=mathjax/MathJax.js?config={MATHJAX_CONFIG}",
                    "--output-dir", str(out_dir), str(notebook)], check=True, timeout=600)
    return out_dir / f"{notebook.stem}.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    parser.add_argument("--html", nargs="*", default=[], help="make tour's pages, checked offline")
    parser.add_argument("--only-html", action="store_true", help="skip the notebooks")
    parser.add_argument("--out", default=str(ROOT / "build" / "browser"), help="screenshots and logs")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per notebook's Run All")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`, CI cancel: still run the finally blocks
    if not Path(CHROMIUM).exists():
        print(f"browser test skipped: no chromium at {CHROMIUM} (Debian/Ubuntu: apt-get install chromium)")
        return 0
    from playwright.sync_api import sync_playwright

    notebooks = [] if args.only_html else [Path(p) for p in (args.notebooks or sorted(ROOT.glob("notebooks/*.ipynb")))]
    shots = Path(args.out)
    shutil.rmtree(shots, ignore_errors=True)
    work = shots / "work"
    work.mkdir(parents=True)
    for notebook in notebooks:  # Lab saves into these copies, never into the clone
        shutil.copy(notebook, work / notebook.name)
    results, failures, pages = [], [], []  # pages: the Lab-run notebooks exported to HTML, checked offline
    lab = Lab(work, shots / "jupyterlab.log") if notebooks else None
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                if lab:
                    lab.wait_ready()
                    log(f"JupyterLab ready on port {lab.port} (FAST mode)")
                for notebook in notebooks:
                    started = time.monotonic()
                    try:
                        results.append(check_notebook(browser, lab, notebook.name, shots, args.timeout))
                        results[-1]["total_s"] = round(time.monotonic() - started, 1)
                        pages.append(export_html(work / notebook.name, shots / "html"))
                    except Exception as error:  # noqa: BLE001 — report every notebook, fail at the end
                        failures.append(f"{notebook.name}: {error}")
                        log(f"FAILED {notebook.name}: {error}")
                for html, prefix in [*((p, "html") for p in pages), *((Path(p), "tour") for p in args.html)]:
                    try:
                        results.append(check_html(browser, html, shots, prefix))
                    except Exception as error:  # noqa: BLE001
                        failures.append(f"{html.name}: {error}")
                        log(f"FAILED {html.name}: {error}")
            finally:
                browser.close()
    finally:
        if lab:
            lab.stop()
    shutil.rmtree(work, ignore_errors=True)
    for result in results:
        if "notebook" in result:
            print(f"{result['notebook']:<16} Run All {result['run_all_s']:7.1f} s · sliders "
                  f"{result['sliders_s']:5.1f} s ({'; '.join(result['sliders']) or 'none'}) · total {result['total_s']:.1f} s")
    (shots / "results.json").write_text(json.dumps({"results": results, "failures": failures}, indent=1))
    print(f"screenshots: {', '.join(sorted(p.name for p in shots.glob('*.png')))}")
    if failures:
        print("browser test FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"browser test passed: {len(notebooks)} notebooks, {len(pages) + len(args.html)} HTML pages offline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
