"""The room panel (talklab.views.panel.RoomPanel) in real JupyterLab and Chromium: its buttons
join and leave, the live mesh redraws by itself, a notebook saved in the middle reopens without
"model not found", the seventh is refused with the seed's words, and when the lab closes the
buttons give way to a picture of the room.

Apart from tests/test_jupyterlab.py (whose tests have the machine alone: they run the course
against its time budget), because this one measures nothing and shares the machine. It borrows
that file's Chromium and page fixtures and its helpers, with a JupyterLab of its own serving an
empty folder.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from helpers import running_jupyterlab
from test_jupyterlab import (  # noqa: F401  (chromium, page: fixtures, used by name)
    all_ran,
    chromium,
    command,
    on_the_files_loop,
    open_notebook,
    page,
    run_all,
    save,
)


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jupyterlab")
    work = tmp / "notebooks"
    work.mkdir()
    with running_jupyterlab(tmp, work) as lab:
        yield lab


MESH_IMAGE = (  # the live mesh's picture: the widget with its caption ("n people · ...")
    "() => { const c = [...document.querySelectorAll('.widget-html')].find(e =>"
    " /people · \\d+ calls carrying audio/.test(e.innerText));"
    " return c ? c.innerHTML : ''; }")
PANEL = [
    "import talklab\nfrom talklab.views import RoomPanel\nlab = await talklab.Lab()\n"
    "panel = RoomPanel(lab)\npanel",
    "for name in ('Alice', 'Charlie', 'Dave', 'Eve', 'Frank'):\n    await panel.join(name)\n"
    "await lab.wait_connected()\npanel.state('Frank')",
]


@pytest.mark.timeout(300)
@on_the_files_loop
async def test_the_room_panels_buttons_change_the_live_room(jupyterlab, page):  # noqa: F811
    url, token, work = jupyterlab
    import nbformat  # (here, not at the top: see tests/test_notebooks.py's imports)

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in PANEL]
    (work / "panel.ipynb").write_text(json.dumps(nb))
    await open_notebook(page, url, token, "panel.ipynb")
    await run_all(page)
    await all_ran(page, timeout=60)
    row = ".widget-vbox > .widget-hbox:has(b:text-is('{}'))"  # one row per person
    join = page.locator(row.format("Bob") + " button:has-text('Join voice')")
    status = page.locator(row.format("Bob") + " .widget-html").last
    await join.wait_for(timeout=10_000)
    assert "not here" in await status.inner_text()
    before = await page.evaluate(MESH_IMAGE)
    await join.click()  # Bob joins the room and its voice: the sixth seat
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-vbox > .widget-hbox')].some(r => "
        "r.textContent.includes('Bob') && r.textContent.includes('5/5 links up'))",
        timeout=30_000)
    await page.wait_for_function(  # the mesh redrew by itself, with Bob's calls
        "() => /6 people · 15 calls carrying audio/.test(document.body.innerText)",
        timeout=15_000)
    after = await page.evaluate(MESH_IMAGE)
    assert "<svg" in before and "<svg" in after and after != before
    # saved in the middle, the lab still open, and reopened elsewhere (a copy, a new kernel):
    # the panel comes back from the widget state saved with it, not "model not found"
    await save(page)
    shutil.copy(work / "panel.ipynb", work / "panel-saved.ipynb")
    other = await page.context.new_page()
    await other.goto(f"{url}/lab/tree/panel-saved.ipynb?token={token}&reset")
    await other.wait_for_function("() => /Join voice/.test(document.body.innerText) ||"
                                  " /model not found/.test(document.body.innerText)",
                                  timeout=60_000)
    assert "model not found" not in await other.evaluate("document.body.innerText")
    await other.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    await other.close()
    grace = page.locator(row.format("Grace") + " button:has-text('Join voice')")
    await grace.click()  # the seventh is refused, with the seed's words
    await page.wait_for_function(
        "() => /refused: Voice channel is full!/.test(document.body.innerText)", timeout=15_000)
    await command(page, "notebook:insert-cell-below")
    await page.evaluate(
        "window.jupyterapp.shell.currentWidget.content.activeCell.model.sharedModel.setSource("
        "'await lab.close()')")
    await command(page, "notebook:run-cell")
    await all_ran(page, timeout=30)
    assert re.search(r"\[\d+\]", await page.locator(".jp-InputPrompt").last.inner_text())
    # the lab closed: the panel's buttons gave way to a picture of the room's last state
    await page.wait_for_function(
        "() => /the buttons are gone/.test(document.body.innerText)", timeout=15_000)
    assert not await page.locator("button:has-text('Join voice')").count()
