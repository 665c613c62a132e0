"""The learner's microphone and ears (talklab/views/microphone.py): first what the kernel does
with what a page says (no browser), then the widget in real JupyterLab and Chromium with a fake
microphone playing a 700 Hz tone, with comm messages on subshells and without, the page reaching
JupyterLab over TCP only (its UDP dropped, as on Binder)."""

from __future__ import annotations

import json
import pathlib
import re
import tracemalloc

import numpy as np
import pytest
import pytest_asyncio
from helpers import in_namespace, running_jupyterlab, tcp_only, udp_dropped, write_tone
from test_chromium_page import CHROMIUM, HEADLESS

from talklab.browser.media import NotAllowedError
from talklab.views.microphone import MicrophoneClosed

SCHOOL = "jupyter.school.test"  # resolved to 127.0.0.1 by the refusing Chromium
FAKE_MIC_HZ = 700.0
ALICE_HZ = 440.0


# -- the kernel's half, told what a page would say --------------------------------------------
def microphone(**kwargs):
    from talklab.views.microphone import BrowserMicrophone
    mic = BrowserMicrophone(**kwargs)
    sent: list[tuple[dict, list]] = []
    mic.send = lambda content, buffers=None: sent.append((content, buffers or []))  # type: ignore[method-assign]
    return mic, sent


def pcm(seconds: float = 0.02, hz: float = FAKE_MIC_HZ, rate: int = 48_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32).tobytes()


def test_the_states_a_learner_can_act_on():
    mic, _ = microphone()
    assert mic.state == "no browser" and "headless" in mic.label
    mic._message(mic, {"type": "state", "state": "attached",
                       "detail": "secure http://127.0.0.1:8888"}, [])
    assert mic.state == "not clicked"
    mic._message(mic, {"type": "state", "state": "insecure", "detail": "http://10.0.0.5:8888"},
                 [])
    assert mic.state == "insecure" and "https" in mic.label and "localhost" in mic.label
    mic._message(mic, {"type": "state", "state": "streaming", "detail": "48000 Hz"}, [])
    assert mic.state == "streaming"
    assert "object at 0x" not in repr(mic) and "streaming" in repr(mic)
    mic.close()


def test_a_refused_microphone_raises_the_browsers_error_in_the_kernel():
    mic, _ = microphone()
    stream = mic.stream
    mic._message(mic, {"type": "state", "state": "refused",
                       "detail": "NotAllowedError: Permission denied"}, [])
    assert "NotAllowedError" in mic.label
    with pytest.raises(NotAllowedError, match="refused the microphone"):
        mic.stream  # noqa: B018
    assert stream.audio.refused  # (a person already sending it fails as the browser's would)
    mic._message(mic, {"type": "state", "state": "streaming", "detail": "48000 Hz"}, [])
    again = mic.stream  # allowed on a second click: a new voice
    assert again is not stream and again.active and again.audio.refused is None
    mic.close()


def test_a_closed_microphone_leaves_a_still_and_a_new_one_closes_the_last():
    first, sent = microphone()
    first._message(first, {"type": "pcm", "rate": 48_000}, [pcm()])
    second, _ = microphone()  # (the cell that made it, run again)
    assert first.state == "closed" and {"type": "close", "why": "the widget was closed in the "
                                        "kernel"} in [content for content, _ in sent]
    assert "1 frame (0.0 s) of your voice reached the kernel" in first.still()
    first._message(first, {"type": "state", "state": "closed", "detail": "x",
                           "tracks": ["ended"]}, [])  # the page confirms
    assert "data-tracks='ended'" in first.still() and first.state == "closed"
    with pytest.raises(MicrophoneClosed, match="run the cell that makes it") as closed:
        first.stream  # noqa: B018  (a closed microphone hears nothing more: said, not silence)
    assert len(closed.value._render_traceback_()) == 1  # one sentence in a notebook
    assert "nothing of your voice reached the kernel" in second.still()
    assert "object at 0x" not in second.still() + repr(second)
    second.close()


@pytest.mark.parametrize("content, buffers", [
    ("not a dict", []),
    ({"type": "pcm", "rate": "fast"}, [pcm()]),
    ({"type": "pcm", "rate": 48_000}, [b"\x00" * 7]),  # not float32
    ({"type": "pcm", "rate": 10**9}, [pcm()]),
    ({"type": "state", "state": "hacked"}, []),
    ({"type": "what"}, []),
    ({"type": "playback", "hz": "440", "tracks": "x" * 10**6}, []),
    ({"type": "playback", "heard": [[1, "a"], "zz", [None, 1], [1e308 * 10, 0]] * 10**4}, []),
    ({"type": "clock", "t0": "now", "t1": [], "tk": {}}, []),
    ({"type": "clock", "t0": 5.0, "t1": 4.0, "tk": 1.0}, []),  # an answer before its question
])
def test_what_no_page_sends_is_ignored(content, buffers):
    mic, _ = microphone()
    mic._message(mic, content, buffers)
    assert mic.state == "no browser" and mic.capture.frames == 0
    assert mic.playback.get("hz") is None and not mic.playback.get("tracks")
    assert len(mic.played) == 0 and mic.page_clock_offset is None
    mic.close()


def test_the_legs_of_latency_read_as_one_line():
    from talklab.browser.latency import Delay
    from talklab.views.microphone import latency_text
    said = latency_text({"up": {"Alice": Delay(0.12, 0.9), "Bob": None},
                         "down": {"Alice": None}}, input_latency=0.01)
    assert said.startswith("your voice → Alice's ears 120 ms (each, plus 10 ms your browser took "
                           "to capture it); their voices → your ears: not measurable yet")
    assert "a steady tone or a regular beep cannot be timed" in said


def test_the_pages_clock_is_set_against_the_kernels_by_its_quickest_round_trip():
    mic, sent = microphone()
    mic._message(mic, {"type": "clock", "t0": 1000.0}, [])  # the page asks the time
    assert sent[-1][0]["type"] == "clock" and sent[-1][0]["t0"] == 1000.0
    # its clock 5 s ahead of the kernel's: two answers, the quicker one is believed
    mic._message(mic, {"type": "clock", "t0": 100_000.0, "t1": 100_400.0, "tk": 95.1}, [])
    mic._message(mic, {"type": "clock", "t0": 200_000.0, "t1": 200_020.0, "tk": 195.01}, [])
    assert abs(mic.page_clock_offset - 5.0) < 1e-9
    mic.close()


def test_a_page_that_pushes_sixty_seconds_at_once_leaves_the_kernels_memory_bounded():
    mic, sent = microphone()
    frame = pcm()
    tracemalloc.start()
    try:
        mic._message(mic, {"type": "pcm", "rate": 48_000}, [frame])
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(3000 - 1):  # 60 s of 20 ms frames, as fast as they come
            mic._message(mic, {"type": "pcm", "rate": 48_000}, [frame])
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert mic.capture.buffered == mic.capture.capacity  # one second kept
    assert mic.capture.dropped == 59 * 48_000
    assert after - before < 200_000 and peak - before < 1_000_000, (after - before, peak - before)
    assert sent[-1][0] == {"type": "ack", "received": 3000}  # (no loop here: told as it reads)
    mic.close()


# -- in real JupyterLab and Chromium ----------------------------------------------------------
CELLS = [
    "import talklab\nfrom talklab.views.microphone import BrowserMicrophone\n"
    "lab = await talklab.Lab()\nmic = BrowserMicrophone(processing=False)\nmic",
    "dave = await lab.join('Dave', voice=True, stream=mic.stream)\n"
    # Alice beeps (her tone in 100 ms blocks at random gaps): a voice whose lateness can be timed
    # (as tests/helpers.py's beeps, with another seed than the fake microphone's)
    "import numpy as np\n"
    "gain = np.repeat(np.random.default_rng(5).random(600) < 0.4, 4800).astype(float)\n"
    "def beeping(hz, offset):\n"
    "    n = (offset + np.arange(960)) % gain.size\n"
    "    return 0.3 * gain[n] * np.sin(2 * np.pi * hz * n / 48_000)\n"
    f"voice = talklab.FrameVoice(beeping, tone_hz={ALICE_HZ})\n"
    "alice = await lab.join('Alice', voice=True, stream=talklab.MediaStream([voice]))\n"
    "await lab.wait_connected()\nmic.listen(dave, lab)",
    # a probe on the page: what Alice hears from Dave, and what the page measured it plays
    "import asyncio, ipywidgets\nprobe = ipywidgets.HTML()\n"
    "async def watch():\n    while True:\n"
    "        probe.value = f\"<i class='probe'>{alice.hears().get('Dave')}|"
    "{mic.playback.get('hz')}|{mic.state}</i>\"\n"
    "        await asyncio.sleep(0.25)\n"
    "watching = asyncio.ensure_future(watch())\nprobe",
]
LEGS = ("() => { const t = document.querySelector('.talklab-latency')?.textContent || '';"
        " return /your voice → Alice's ears \\d+ ms/.test(t) &&"
        " /Alice's voice → your ears \\d+ ms/.test(t); }")
# the page's microphone tracks ended: read in the widget's view, or in the still that replaces it
# once the kernel closed the microphone (drawn with what the page reported of its tracks)
ENDED = ("() => [...document.querySelectorAll('.talklab-microphone, .talklab-microphone-still')]"
         ".some(e => e.dataset.tracks === 'ended')")
WIDGET_ALONE = ["import talklab\nmic = talklab.BrowserMicrophone()\nmic"]
# a microphone whose page will flood it; the kernel's memory traced from before the flood, less
# what jupyter_client's Session keeps of every message it reads, by design: each signature, to
# refuse a replayed one (bounded by its digest_history_size, 65,536 by default)
FLOODED = [
    "import json, tracemalloc\nimport talklab\nmic = talklab.BrowserMicrophone()\n"
    "tracemalloc.start()\nbefore = tracemalloc.take_snapshot()\nprint(mic.comm.comm_id)",
    "session = get_ipython().kernel.session\n"
    "mine = [tracemalloc.Filter(False, '*/jupyter_client/session.py')]\n"
    "grew = sum(s.size_diff for s in tracemalloc.take_snapshot().filter_traces(mine)"
    ".compare_to(before.filter_traces(mine), 'filename'))\ntracemalloc.stop()\n"
    "print(json.dumps({'grew': grew, 'frames': mic.capture.frames,\n"
    "                  'kept': mic.capture.buffered, 'capacity': mic.capture.capacity,\n"
    "                  'dropped': mic.capture.dropped, 'signatures': len(session.digest_history),\n"
    "                  'signatures kept at most': session.digest_history_size}))\n"
    "mic.close()",
]
# From the page, straight on the notebook's kernel connection: ``frames`` 20 ms frames of a
# 700 Hz tone to the widget's comm, as custom messages with a binary buffer (what the widget's
# own code sends: {method: "custom", content: {type: "pcm", rate}}), in ``seconds`` s,
# ignoring every acknowledgement (the widget's own code stops at 2 s unacknowledged).
FLOOD = (
    "async ([comm, frames, seconds]) => {"
    " const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;"
    " const tone = new Float32Array(960).map((_, i) => 0.3 * Math.sin(2 * Math.PI * 700 * i"
    " / 48000));"
    " const ticks = seconds * 10; let sent = 0;"
    " for (let tick = 0; tick < ticks; tick++) {"
    "  for (; sent < frames * (tick + 1) / ticks; sent++) {"
    "   kernel.sendShellMessage({channel: 'shell', header: {msg_id: crypto.randomUUID(),"
    "    msg_type: 'comm_msg', username: '', session: kernel.clientId,"
    "    date: new Date().toISOString(), version: '5.3'}, parent_header: {}, metadata: {},"
    "    content: {comm_id: comm, data: {method: 'custom', content: {type: 'pcm',"
    "    rate: 48000}}}, buffers: [tone.buffer.slice(0)]}, false, true); }"
    "  await new Promise(r => setTimeout(r, 100)); }"
    " return sent; }")
HEARD = (  # Alice hears the fake microphone from Dave, and the page plays Alice's tone
    "([mic, alice]) => { const p = document.querySelector('.probe');"
    " if (!p) return false; const [a, b, state] = p.textContent.split('|');"
    " return state === 'streaming' && Math.abs(+a - mic) < 5 && Math.abs(+b - alice) < 15; }")


@pytest.fixture(scope="module")
def jupyterlab(request, tmp_path_factory):
    """JupyterLab with comm messages on subshells (``perCommTarget``, its default) or not
    (``disabled``), as the test asks (indirect parametrization)."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    notebooks = tmp / "notebooks"
    notebooks.mkdir()
    for name, cells in (("mic.ipynb", CELLS), ("widget.ipynb", WIDGET_ALONE),
                        ("flood.ipynb", FLOODED)):
        (notebooks / name).write_text(json.dumps({
            "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": source,
                       "outputs": [], "execution_count": None}
                      for i, source in enumerate(cells)]}))
    settings = {"@jupyterlab/apputils-extension/kernels-settings":
                {"commsOverSubshells": request.param}}
    # (a second name for loopback, as a school's server would have: not a secure context)
    with running_jupyterlab(tmp, notebooks, settings,
                            f"--ServerApp.local_hostnames=['localhost', '{SCHOOL}']") as lab:
        yield (*lab, request.param)


@pytest_asyncio.fixture
async def learner(jupyterlab, tmp_path: pathlib.Path):
    """The learner's browser, as on Binder: Chromium with a fake microphone (a beeping 700 Hz
    tone, processing off), in a network namespace of its own whose only way to JupyterLab is a
    TCP forward and which drops every UDP datagram (tests/helpers.py's tcp_only). Yields
    ``(browser, the URL JupyterLab has in there, the namespace)``. Root only, as the network
    lab's tests."""
    from playwright.async_api import async_playwright

    from talklab.netlab import not_permitted
    reason = not_permitted()
    if reason is not None:
        pytest.skip(reason)
    url = jupyterlab[0]
    wav = tmp_path / "mic.wav"
    write_tone(wav, FAKE_MIC_HZ, seconds=10.0, beeping=True)
    async with tcp_only(url) as (namespace, inside), async_playwright() as p:
        browser = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=in_namespace(namespace, CHROMIUM, tmp_path),
            headless=True,
            args=[*HEADLESS, "--use-fake-device-for-media-stream",
                  "--use-fake-ui-for-media-stream", f"--use-file-for-fake-audio-capture={wav}",
                  "--autoplay-policy=no-user-gesture-required"],
            viewport={"width": 1200, "height": 900})
        try:
            yield browser, inside, namespace
        finally:
            await browser.close()


async def insert_cell(page, index: int, source: str) -> None:
    await page.evaluate(
        "([i, source]) => window.jupyterapp.shell.currentWidget.content.model.sharedModel"
        ".insertCell(i, {cell_type: 'code', source})", [index, source])


@pytest.mark.timeout(240)
@pytest.mark.parametrize("jupyterlab", ["perCommTarget", "disabled"], indirect=True,
                         ids=["comms-on-subshells", "no-subshells"])
async def test_the_learner_is_dave_with_their_microphone_and_ears(jupyterlab, learner):
    """The learner's page reaches JupyterLab over TCP only, its UDP dropped (as on Binder): the
    microphone and the ears need nothing but the notebook's own connection."""
    from test_jupyterlab import all_ran, open_notebook, run_all, run_cell
    direct, token, _, subshells = jupyterlab
    browser, url, namespace = learner
    page = await browser.new_page()
    await open_notebook(page, url, token, "mic.ipynb", api=direct)
    reaches = "(url) => fetch(url + '/lab', {mode: 'no-cors'}).then(() => true, () => false)"
    assert not await page.evaluate(reaches, direct)  # JupyterLab's own address: not from here
    await run_all(page)
    await all_ran(page, timeout=90)  # no cell waits for the browser
    await page.locator("button:has-text('Join with your microphone')").click()
    await page.wait_for_function(HEARD, arg=[FAKE_MIC_HZ, ALICE_HZ], timeout=60_000)
    # both voices beep (the fake microphone, and Alice's): the widget times the learner's
    # microphone to Alice's ears, and Alice's voice to the page's speakers, by loudness
    # (talklab.browser.latency; how long they are: see the README)
    try:
        await page.wait_for_function(LEGS, timeout=30_000)
    finally:
        said = await page.locator(".talklab-latency").inner_text()
        print(f"the widget's latency line ({subshells}): {said!r}")
    up = int(re.search(r"your voice → Alice's ears (\d+) ms", said)[1])
    down = int(re.search(r"Alice's voice → your ears (\d+) ms", said)[1])
    assert up > 0 and down > 0, said
    # a cell that blocks the kernel's main thread for 3 s: with subshells the page's frames
    # are read meanwhile; without, none are, and the page says the kernel is busy
    await insert_cell(page, 3, "import time\nbefore = mic.capture.frames\ntime.sleep(3)\n"
                                "print(mic.capture.frames - before)")
    said = await run_cell(page, 3)
    read_meanwhile = int(said[0]["text"])
    paused = await page.evaluate(
        "() => +(document.querySelector('.talklab-microphone').dataset.paused || 0)")
    if subshells == "disabled":
        assert read_meanwhile == 0 and paused >= 1, (read_meanwhile, paused)
    else:  # (150 frames in 3 s, less what a busy machine delays past the cell's end)
        assert read_meanwhile > 50, read_meanwhile
    await page.wait_for_function(HEARD, arg=[FAKE_MIC_HZ, ALICE_HZ], timeout=30_000)
    # closing the lab lets the microphone go (the page's tracks end); so does a restart
    if subshells == "disabled":
        await page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.session"
                            ".kernel.restart()")
    else:
        await insert_cell(page, 4, "await lab.close()")
        await run_cell(page, 4)
    await page.wait_for_function(ENDED, timeout=20_000)
    if subshells != "disabled":  # the widget's place now holds its still (a saved notebook's)
        assert await page.locator(".talklab-microphone-still").count() == 1
    await page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    await page.close()
    print(f"UDP datagrams the learner's namespace dropped: {udp_dropped(namespace)}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("jupyterlab", ["perCommTarget"], indirect=True, ids=["comms-on-subshells"])
async def test_a_refusal_and_an_insecure_page_are_said_in_the_kernel_and_the_widget(
        jupyterlab, tmp_path):
    """A browser that refuses the microphone (no fake permission prompt: headless Chromium
    denies), and the same JupyterLab reached by a name that is not loopback over plain http
    (not a secure context: no ``navigator.mediaDevices`` at all)."""
    from playwright.async_api import async_playwright
    from test_jupyterlab import KERNEL_READY, open_notebook, run_cell
    url, token, _, _ = jupyterlab
    async with async_playwright() as p:
        browser = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
            args=[*HEADLESS, "--use-fake-device-for-media-stream",
                  f"--host-resolver-rules=MAP {SCHOOL} 127.0.0.1"])
        try:
            page = await browser.new_page()
            await open_notebook(page, url, token, "widget.ipynb")
            await run_cell(page, 0)
            await page.locator("button:has-text('Join with your microphone')").click()
            await page.wait_for_function(
                "() => /refused the microphone \\(NotAllowedError\\)/"
                ".test(document.querySelector('.talklab-state').textContent)", timeout=20_000)
            await insert_cell(page, 1, "mic.stream")
            said = await run_cell(page, 1)
            assert [o.get("ename") for o in said] == ["NotAllowedError"], said
            await page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext"
                                ".shutdown()")
            school = await browser.new_page()  # (JupyterLab starts the notebook's kernel)
            await school.goto(url.replace("127.0.0.1", SCHOOL)
                              + f"/lab/tree/widget.ipynb?token={token}&reset")
            await school.wait_for_function(KERNEL_READY, timeout=60_000)
            assert await school.evaluate("window.isSecureContext") is False
            await run_cell(school, 0)
            await school.wait_for_function(
                "() => /not a secure context/"
                ".test(document.querySelector('.talklab-state').textContent)", timeout=20_000)
            await school.evaluate("window.jupyterapp.shell.currentWidget.sessionContext"
                                  ".shutdown()")
        finally:
            await browser.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("jupyterlab", ["perCommTarget"], indirect=True, ids=["comms-on-subshells"])
async def test_a_page_that_pushes_sixty_seconds_in_ten_leaves_the_kernels_memory_bounded(
        jupyterlab, tmp_path):
    """A page (JupyterLab's own, in Chromium) sends 60 s of audio in 10 s to the widget's comm
    on the notebook's kernel connection, ignoring acknowledgements: the kernel reads every
    frame, keeps one second of them, and its Python memory (tracemalloc, in the kernel) grows by
    what one second of audio and the loudness kept for latency take, whatever the flood (6,000
    frames: 165 kB, measured), beside jupyter_client's bounded history of signatures."""
    from playwright.async_api import async_playwright
    from test_jupyterlab import open_notebook, run_cell
    url, token, _, _ = jupyterlab
    async with async_playwright() as p:
        browser = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=HEADLESS)
        try:
            page = await browser.new_page()
            await open_notebook(page, url, token, "flood.ipynb")
            comm = (await run_cell(page, 0))[0]["text"].strip()
            assert await page.evaluate(FLOOD, [comm, 3000, 10]) == 3000
            said = json.loads((await run_cell(page, 1))[0]["text"])
            await page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext"
                                ".shutdown()")
        finally:
            await browser.close()
    print(said)
    assert said["frames"] == 3000, said  # every frame read
    assert said["kept"] == said["capacity"] == 48_000, said  # one second kept
    assert said["dropped"] == 59 * 48_000, said
    # 11.5 MB of audio came in: what stays is the second kept (96 kB) and the traces' own
    assert said["grew"] < 500_000, said
    assert said["signatures"] <= said["signatures kept at most"], said
