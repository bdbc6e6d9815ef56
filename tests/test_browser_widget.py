"""Notebook 01's temperature explorer renders and responds in a real browser.

A classroom's most common failure is a widget that shows "Error displaying widget" because the
JupyterLab and ipywidgets versions disagree: only a browser sees it. This test starts JupyterLab as
the README does (``jupyter lab --allow-root``), opens it in headless Chromium (Debian's package,
driven by Playwright through its executable path: no browser download), runs notebook 01's widget
cell verbatim, moves the temperature slider one step and checks that the value and the figure
change. A screenshot is saved as a test artifact; its path is printed.

It skips, saying why, only where Playwright or a Chromium executable is missing (``.ci/run``
installs both where it can). ``KDMETA_CHROMIUM`` names another Chromium executable.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("KDMETA_ARTIFACTS", Path(tempfile.gettempdir()) / "kdmeta-artifacts"))
TOKEN = "kdmeta-browser-test"

# Stand-ins for what notebook 01 computes before its widget cell (the teacher's logits on the test
# digits it hesitates on), so that the cell itself runs verbatim in seconds.
PRELUDE = '''import matplotlib.pyplot as plt
import torch
from kdmeta_lib.distillation import soft_targets

test_logits = torch.randn(6, 10, generator=torch.Generator().manual_seed(0)) * 4
ambiguous = torch.arange(6)

def draw_soft_targets(example, temperatures):
    figure, axes = plt.subplots(1, len(temperatures), figsize=(3 * len(temperatures), 2.4))
    for axis, temperature in zip(axes, temperatures):
        axis.bar(range(10), soft_targets(test_logits[example], temperature), color="tab:orange")
        axis.set(ylim=(0, 1), title=f"T = {temperature:g}")
    plt.show()'''


def chromium() -> str | None:
    candidates = [os.environ.get("KDMETA_CHROMIUM"), shutil.which("chromium"),
                  shutil.which("chromium-browser"), shutil.which("google-chrome")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def widget_cell() -> str:
    cells = json.loads((REPO / "notebooks" / "01_distillation_basics.ipynb").read_text())["cells"]
    return next("".join(c["source"]) for c in cells
                if c["cell_type"] == "code" and "widgets.interactive" in "".join(c["source"]))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving a notebook made of the prelude and notebook 01's widget cell."""
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": source} for source in (PRELUDE, widget_cell())]
    notebook = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                            "language": "python"}}}
    served = tmp_path / "served"
    served.mkdir()
    (served / "widget.ipynb").write_text(json.dumps(notebook))
    port, log = free_port(), open(tmp_path / "jupyterlab.log", "w")
    jupyter = Path(sys.executable).parent / "jupyter"
    server = subprocess.Popen(
        [str(jupyter), "lab", "--allow-root", "--no-browser", f"--port={port}",
         f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False", str(served)],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
             "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {(tmp_path / 'jupyterlab.log').read_text()}")
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within a minute")
        yield f"{url}/lab/tree/widget.ipynb?token={TOKEN}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_the_temperature_slider_renders_and_redraws_in_jupyterlab(jupyterlab):
    playwright = pytest.importorskip("playwright.sync_api",
                                     reason="Playwright is not installed (pip install playwright)")
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium executable (apt-get install chromium, or set KDMETA_CHROMIUM)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "notebook01_widget.png"
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(jupyterlab, timeout=90_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            choose_kernel = page.locator(".jp-Dialog button", has_text="Select")
            try:  # a first visit may ask which kernel to start: the default, python3
                choose_kernel.click(timeout=15_000)
            except playwright.Error:
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=90_000)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            slider = page.locator(".widget-hslider", has_text="T").first
            slider.wait_for(timeout=90_000)
            readout = slider.locator(".widget-readout")
            figure = page.locator(".jp-OutputArea-output img").first
            figure.wait_for(timeout=90_000)
            before_value, before_figure = readout.inner_text(), figure.get_attribute("src")
            slider.locator(".noUi-handle").focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function("([element, old]) => element.innerText !== old",
                                   arg=[readout.element_handle(), before_value], timeout=30_000)
            page.wait_for_function(
                "([old]) => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                ".some(image => image.src !== old)", arg=[before_figure], timeout=60_000)
            after_value = readout.inner_text()
            assert "Error displaying widget" not in page.content()
        finally:
            page.screenshot(path=str(screenshot), full_page=True)
            browser.close()
    print(f"\nwidget screenshot: {screenshot}")
    assert float(before_value) == 4.0 and float(after_value) == 4.5, (before_value, after_value)
