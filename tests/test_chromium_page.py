"""The seed's browser page in real headless Chromium, in the same room as aiortc people.

Chromium is Debian's (/usr/bin/chromium, installed by `make test`), driven by Playwright's
Python API through ``executable_path`` (Playwright never downloads a browser here). Its flags:

* the headless set every talklab browser test uses: ``--headless --no-sandbox --disable-gpu
  --disable-quic --no-first-run --disable-background-networking --disable-component-update
  --disable-sync`` and a fresh ``--user-data-dir``;
* ``--use-fake-device-for-media-stream --use-fake-ui-for-media-stream``: a fake microphone, and
  the permission prompt answered "allow";
* ``--use-file-for-fake-audio-capture=tone.wav``: the fake microphone plays our tone;
* ``--allow-loopback-in-peer-connection``: without it Chromium never offers 127.0.0.1;
* ``--disable-features=WebRtcHideLocalIpsWithMdns``: real addresses instead of ``.local`` names;
* ``--autoplay-policy=no-user-gesture-required``: remote audio plays without a click.

Chromium also offers its other interfaces' addresses; talklab people ignore every candidate
outside loopback (``talklab.ice.trickle.loopback_only``), so no packet leaves the machine.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest
from helpers import write_tone

from talklab import Lab

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_TONE = 660.0
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
         "--allow-loopback-in-peer-connection",
         "--disable-features=WebRtcHideLocalIpsWithMdns",
         "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture
async def browser(tmp_path):
    assert shutil.which(CHROMIUM), "chromium is not installed (run `make test`)"
    from playwright.async_api import async_playwright
    tone = tmp_path / "tone.wav"
    write_tone(tone, BROWSER_TONE)
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
            args=HEADLESS + MEDIA + [f"--use-file-for-fake-audio-capture={tone}"])
        try:
            yield context
        finally:
            await context.close()


async def page_state(page) -> dict:
    return await page.evaluate("window.talklab.state()")


async def wait_page(page, predicate: str, what: str, arg=None, timeout: float = 15) -> dict:
    """Wait, inside the page, until the JS ``predicate(state, arg)`` holds (bounded)."""
    try:
        await page.wait_for_function(f"(arg) => ({predicate})(window.talklab.state(), arg)",
                                     arg=arg, timeout=timeout * 1000)
    except Exception:
        raise AssertionError(f"page: {what} within {timeout}s; state: "
                             f"{await page_state(page)}") from None
    return await page_state(page)


async def test_two_python_people_and_the_browser_all_connect_and_hear_each_other(browser):
    async with Lab() as lab:
        alice = await lab.join("Alice", voice=True)
        bob = await lab.join("Bob", voice=True)
        page = await browser.new_page()
        await page.goto(f"{lab.url}/?room=ABCD12&name=Chrome&join=voice&mute=1")
        await wait_page(page, "(s) => s.inVoice", "in voice")
        await lab.wait_connected(15)  # all three pairs, audio both ways on the Python side
        assert lab.graph().number_of_edges() == 3
        for person in (alice, bob):
            await person.link_to("Chrome").ear.wait_frames(60, 10)
            assert person.hears()["Chrome"] == pytest.approx(BROWSER_TONE, abs=2)
        tones = {p.sid: p.tone_hz for p in (alice, bob)}
        await wait_page(
            page, "(s, tones) => Object.entries(tones).every(([sid, hz]) => "
                  "s.peers[sid] && s.peers[sid].state === 'connected' && s.peers[sid].hz && "
                  "Math.abs(s.peers[sid].hz - hz) < 3)",
            "hearing both Python people", arg=tones)
        await page.close()


async def test_browser_joins_as_dave_hears_and_is_heard(browser):
    async with Lab() as lab:
        alice = await lab.join("Alice", voice=True)
        bob = await lab.join("Bob", voice=True)
        charlie = await lab.join("Charlie", voice=True)
        await lab.wait_connected(10)

        page = await browser.new_page()
        await page.goto(f"{lab.url}/?room=ABCD12&name=Dave&join=voice&mute=1")
        state = await wait_page(page, "(s) => s.inVoice", "Dave in voice")
        dave_sid = state["socketId"]

        # The three offers Dave's page receives come from the three Python people.
        await lab.wait_connected(15)
        offers = [e for e in lab.trace if e.event == "webrtc-offer" and e.to == dave_sid]
        assert sorted(e.peer_name for e in offers) == ["Alice", "Bob", "Charlie"]
        answers = [e for e in lab.trace if e.event == "webrtc-answer" and e.from_ == dave_sid]
        assert sorted(e.peer_name for e in answers) == ["Alice", "Bob", "Charlie"]

        # All pairs connected; the Python people hear the browser's tone within 2 Hz.
        for person in (alice, bob, charlie):
            await person.link_to("Dave").ear.wait_frames(60, 10)
            assert person.hears()["Dave"] == pytest.approx(BROWSER_TONE, abs=2)
            assert person.link_to("Dave").route in ("host", "prflx")  # prflx: a check came first
        # ... and the page reports hearing each of them, at their tones.
        tones = {p.sid: p.tone_hz for p in (alice, bob, charlie)}
        state = await wait_page(
            page, "(s, tones) => Object.entries(tones).every(([sid, hz]) => "
                  "s.peers[sid] && s.peers[sid].hz && Math.abs(s.peers[sid].hz - hz) < 3)",
            "hearing all three Python people", arg=tones)
        assert {p["state"] for p in state["peers"].values()} == {"connected"}
        await page.screenshot(path=str(pytest_artifacts() / "browser-dave-in-voice.png"))

        # The browser person is one of the mesh like any other.
        g = lab.graph()
        assert g.nodes["Dave"]["kind"] == "browser" and g.nodes["Dave"]["in_voice"]
        assert g.number_of_edges() == 6
        assert {d["state"] for _, _, d in g.edges(data=True)} == {"connected"}

        # Leaving from the page closes the links on every Python person.
        await page.click("#leaveVoice")
        for person in (alice, bob, charlie):
            await person.wait_until(lambda p=person: "Dave" not in
                                    [link.remote_name for link in p.links.values()],
                                    5, "link to Dave closed")
        await page.close()


async def test_browser_is_refused_when_six_are_in_voice(browser):
    async with Lab() as lab:
        for i in range(6):
            await lab.join(f"P{i}", voice=True)
        page = await browser.new_page()
        await page.goto(f"{lab.url}/?room=ABCD12&name=Grace&join=voice&mute=1")
        state = await wait_page(page, "(s) => s.error", "an error shown")
        assert state["error"] == "Voice channel is full!"
        assert await page.text_content("#error") == "Voice channel is full!"
        assert not state["inVoice"] and state["peers"] == {}
        assert len(state["members"]) == 7
        await page.screenshot(path=str(pytest_artifacts() / "browser-voice-full.png"))
        await page.close()


def pytest_artifacts():
    from pathlib import Path
    path = Path(__file__).parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path


async def test_the_seeds_page_joins_a_classroom_beside_two_students_kernels_labs(browser):
    """The page the teacher's classroom serves, in the room of two students' labs (each joined
    by URL, as a student's kernel would): all three hear each other."""
    from talklab import Classroom

    async with Classroom() as classroom, Lab(server=classroom.url) as one, \
            Lab(server=classroom.url) as two:
        ana = await one.join("Ana", voice=True, tone_hz=440)
        ben = await two.join("Ben", voice=True, tone_hz=880)
        page = await browser.new_page()
        await page.goto(f"{classroom.url}/?room=ABCD12&name=Chrome&join=voice&mute=1")
        await wait_page(page, "(s) => s.inVoice", "in voice")
        for lab in (one, two):
            await lab.wait_connected(15)
        for person in (ana, ben):
            await person.link_to("Chrome").ear.wait_frames(60, 10)
            assert person.hears()["Chrome"] == pytest.approx(BROWSER_TONE, abs=2)
        tones = {p.sid: p.tone_hz for p in (ana, ben)}
        await wait_page(
            page, "(s, tones) => Object.entries(tones).every(([sid, hz]) => "
                  "s.peers[sid] && s.peers[sid].state === 'connected' && s.peers[sid].hz && "
                  "Math.abs(s.peers[sid].hz - hz) < 3)",
            "hearing both students", arg=tones)
        def states() -> dict:
            return {frozenset((ln["a"], ln["b"])): ln["state"]
                    for ln in classroom.dashboard()[0]["links"]}
        want = {frozenset(("Ana", "Ben")): "connected",  # the page does not report its calls:
                frozenset(("Ana", "Chrome")): "connecting",  # one side's word only
                frozenset(("Ben", "Chrome")): "connecting"}
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while states() != want:
            assert loop.time() < end, states()
            await asyncio.sleep(0.05)  # (polling the dashboard's plain data, bounded)
        await page.close()
