"""Notebook 07 in real JupyterLab, in headless Chromium: run it, click Join, see the mesh change.

JupyterLab runs on 127.0.0.1 with a token and its app object exposed
(``--LabApp.expose_app_in_browser``), in throwaway config/settings/workspace folders, with the
news pop-up extension disabled. The notebook is a copy in a temporary folder (JupyterLab saves
what it runs) without its last, clean-up cell, so the room is still live when the test clicks.
Chromium is Debian's, driven by Playwright (flags: see tests/test_browser.py).
"""

from __future__ import annotations

import json
import os
import pathlib
import queue
import secrets
import subprocess
import sys
import threading

import pytest
from test_browser import CHROMIUM, HEADLESS, pytest_artifacts

ROOT = pathlib.Path(__file__).parent.parent
NOTEBOOK = "07-the-full-mesh.ipynb"


@pytest.fixture
def jupyterlab(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    nb = json.loads((ROOT / "notebooks" / NOTEBOOK).read_text())
    assert "lab.close()" in "".join(nb["cells"][-1]["source"])
    nb["cells"] = nb["cells"][:-1]  # keep the room open for the clicks
    (work / NOTEBOOK).write_text(json.dumps(nb))
    env = dict(os.environ,
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    jupyter = str(pathlib.Path(sys.executable).with_name("jupyter"))
    subprocess.run([jupyter, "labextension", "disable",
                    "@jupyterlab/apputils-extension:announcements"], env=env, check=True,
                   capture_output=True)
    token = secrets.token_hex(16)
    proc = subprocess.Popen(
        [jupyter, "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0",
         "--LabApp.extension_manager=readonly",  # never asks PyPI for extensions
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stderr=subprocess.PIPE, text=True)
    found: queue.Queue = queue.Queue()

    def drain() -> None:  # read the log for the URL, and keep reading so the pipe never fills
        for line in proc.stderr:
            if "http://127.0.0.1:" in line and "/lab" in line:
                found.put(line[line.index("http://127.0.0.1:"):].split("/lab")[0])
        found.put(None)

    threading.Thread(target=drain, daemon=True).start()
    try:
        url = found.get(timeout=60)
        assert url, "JupyterLab did not start"
        yield url.rstrip("/"), token, work
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_notebook_07_in_jupyterlab_join_button_redraws_the_mesh(jupyterlab, tmp_path):
    from playwright.async_api import async_playwright
    url, token, _work = jupyterlab
    async with async_playwright() as p:
        browser = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=HEADLESS,
            viewport={"width": 1400, "height": 1000})
        try:
            page = await browser.new_page()
            await page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
            await page.wait_for_function(
                "() => window.jupyterapp && document.querySelector('.jp-Notebook') &&"
                " window.jupyterapp.shell.currentWidget &&"
                " window.jupyterapp.shell.currentWidget.sessionContext.session &&"
                " window.jupyterapp.shell.currentWidget.sessionContext.session.kernel &&"
                " window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                "   .connectionStatus === 'connected'", timeout=60_000)
            await page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # every code cell ran: each input prompt shows a number
            await page.wait_for_function(
                "() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];"
                " return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }",
                timeout=90_000)
            assert not await page.query_selector(".jp-OutputArea-output[data-mime-type="
                                                 "'application/vnd.jupyter.stderr'] .ansi-red-fg")
            row = ".widget-vbox > .widget-hbox:has(b:text-is('{}'))"  # one row per person
            join = page.locator(row.format("Bob") + " button:has-text('Join voice')")
            leave = page.locator(row.format("Frank") + " button:has-text('Leave')")
            status = page.locator(row.format("Bob") + " .widget-html").last
            mesh = page.locator(".widget-image").first
            await join.wait_for(timeout=10_000)
            before = await mesh.get_attribute("src")
            assert "in the room" in await status.inner_text()

            await leave.click()     # Frank frees a seat ...
            await page.wait_for_function(
                "() => [...document.querySelectorAll('.widget-vbox > .widget-hbox')].some(r => "
                "r.textContent.includes('Frank') && r.textContent.includes('in the room'))",
                timeout=15_000)
            await join.click()      # ... and Bob takes it
            await page.wait_for_function(
                "() => [...document.querySelectorAll('.widget-vbox > .widget-hbox')].some(r => "
                "r.textContent.includes('Bob') && r.textContent.includes('5/5 links up'))",
                timeout=20_000)
            await page.wait_for_function(  # the mesh redrew by itself: a new image, all green
                "before => document.querySelector('.widget-image').src !== before &&"
                " document.body.innerText.includes('7 people · 15 connected')",
                arg=before, timeout=10_000)
            assert "in voice" in await status.inner_text()
            await page.screenshot(path=str(pytest_artifacts() / "jupyterlab-07-mesh.png"),
                                  full_page=False)
        finally:
            await browser.close()
