"""You are Dave: the learner's own microphone and ears in the room, from the notebook.

:class:`BrowserMicrophone` is a widget (anywidget: JupyterLab 4's front end comes prebuilt,
nothing to build) that is the learner's browser side of the seed's Step 1. On a click (browsers
want a gesture) the page calls ``getUserMedia``, an AudioWorklet taps the microphone, and
20 ms frames go to the kernel over the widget's own connection, the one path that exists
between a learner's browser and a kernel on Binder. In the kernel they are a voice like the
others (:class:`talklab.browser.learner.PageVoice`), so the learner can be a person::

    mic = talklab.BrowserMicrophone()           # shown as a widget: click it
    mic                                          # (the cell's last line)
    you = await lab.join("Dave", voice=True, stream=mic.stream)
    mic.listen(you)                              # hear what Dave hears

``mic.listen(person)`` plays, in the page, what that person hears (the mix of their calls,
after Opus and the jitter buffer), and the page measures what it plays (loudness, dominant
frequency) and reports it: :attr:`BrowserMicrophone.playback`.

Threads. With JupyterLab 4.4+ and ipykernel 7, comm messages are read on subshell threads,
even while a cell blocks the kernel's main thread; frames go into a locked, bounded buffer that
the learner's voice reads on the lab's loop, on its own clock. Without subshells they are
read on the main thread: while a cell awaits, ipykernel 7 still reads them, but while a cell
blocks (``time.sleep``, a long computation) none arrive. No cell here ever waits for the
browser; the page notices that the kernel stopped acknowledging its frames and says "kernel
busy: audio paused", and the voice plays silence meanwhile.

Audio stays out of the widget's traits (a saved notebook keeps no voice): frames are binary
buffers of custom messages.

Tested in tests/test_microphone.py (states, bounds and release without a browser; the widget
in real JupyterLab and Chromium with a fake microphone).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import pathlib
import time
from typing import Any

import anywidget
import numpy as np
import traitlets

from talklab.browser.learner import MAX_SECONDS, CaptureBuffer, Mix, PageVoice
from talklab.browser.media import FRAME_SECONDS, SAMPLE_RATE, MediaStream, NotAllowedError

_JS = pathlib.Path(__file__).with_name("microphone.js")

LABELS = {
    "no browser": "waiting for a browser to show this widget (a headless run never shows it)",
    "not clicked": "click the button to join with your microphone",
    "refused": "the browser refused the microphone (NotAllowedError): allow it for this site "
               "in the address bar and click again",
    "insecure": "this page is not a secure context, so the browser gives it no microphone: "
                "open JupyterLab over https, or as localhost (for example through an SSH tunnel)",
    "streaming": "your microphone is in the kernel",
    "paused": "kernel busy: audio paused (a running cell keeps the kernel from reading this "
              "page's messages)",
    "closed": "closed: your microphone is released",
}
ACK_EVERY = 5  # frames: how often the kernel tells the page how many it has read


class BrowserMicrophone(anywidget.AnyWidget):
    """The learner's microphone and ears, from their own page (see the module's docstring)."""

    _esm = _JS.read_text()
    state = traitlets.Unicode("no browser").tag(sync=True)
    label = traitlets.Unicode(LABELS["no browser"]).tag(sync=True)
    detail = traitlets.Unicode("").tag(sync=True)
    processing = traitlets.Bool(True).tag(sync=True)  # echo cancellation, noise, gain
    # what the page says by itself when the kernel stops reading it (it cannot ask the kernel)
    paused_label = traitlets.Unicode(LABELS["paused"]).tag(sync=True)

    def __init__(self, processing: bool = True, max_seconds: float = MAX_SECONDS) -> None:
        super().__init__(processing=processing)
        self.max_seconds = max_seconds  # kept of the page's audio, and queued for its playback
        self.capture = CaptureBuffer(max_seconds)
        self._voice: PageVoice | None = None
        self._stream: MediaStream | None = None
        self._mix = Mix(max_seconds)
        self._listening: asyncio.Task | None = None
        self._page_context: contextvars.Context | None = None
        self.playback: dict[str, Any] = {}  # what the page measured of what it plays
        self.refusal: str | None = None
        self.on_msg(self._message)

    # -- what the page says ------------------------------------------------------------------
    def _message(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        """A custom message from the page (on a subshell's thread, or the kernel's). Anything
        malformed is ignored: a page can send anything."""
        if not isinstance(content, dict):
            return
        self._page_context = contextvars.copy_context()  # (see _to_page)
        kind = content.get("type")
        if kind == "pcm" and buffers and self.state != "closed":
            rate = content.get("rate")
            if not isinstance(rate, (int, float)) or len(buffers[0]) % 4:
                return
            with contextlib.suppress(ValueError):
                self.capture.push(np.frombuffer(buffers[0], np.float32), int(rate))
            if self.capture.frames % ACK_EVERY == 0:
                self._ack()
        elif kind == "ping":
            self._ack()
        elif kind == "state" and isinstance(content.get("state"), str):
            self._page_state(content["state"], str(content.get("detail", ""))[:300])
        elif kind == "playback":
            self.playback = {k: v if isinstance(v, (int, float)) else None for k, v in
                             ((k, content.get(k)) for k in
                              ("level_dbfs", "hz", "queued", "sent", "acked"))}
            tracks = content.get("tracks")
            self.playback["tracks"] = [str(t)[:10] for t in tracks[:4]] \
                if isinstance(tracks, list) else []
            self.playback["at"] = time.monotonic()

    def _page_state(self, state: str, detail: str) -> None:
        if state == "attached":  # a view is shown; its detail says if the page is secure
            if detail.startswith("not secure"):
                state, detail = "insecure", detail.removeprefix("not secure").strip()
            else:
                state = "not clicked" if self.state in ("no browser", "not clicked") \
                    else self.state
                detail = ""
        if state not in LABELS:
            return
        if state == "refused":
            self.refusal = detail or "NotAllowedError: permission denied"
            if self._voice is not None:
                self._voice.refused = self.refusal
        elif state == "streaming":
            self.refusal = None  # allowed on a later click
        self.state, self.detail, self.label = state, detail, LABELS[state]

    def _ack(self) -> None:
        """Tell the page how many frames the kernel has read (from the thread that read them:
        the page pauses when they stop coming, that is when the kernel stops reading)."""
        self.send({"type": "ack", "received": self.capture.frames})

    # -- the learner's voice -------------------------------------------------------------------
    @property
    def stream(self) -> MediaStream:
        """The learner's microphone as a MediaStream, for ``lab.join(..., stream=mic.stream)``.
        Raises :class:`NotAllowedError` if the learner's browser refused it."""
        if self.refusal is not None:
            raise NotAllowedError(f"your browser refused the microphone ({self.refusal}); "
                                  "allow it for this site and click the button again")
        if self._stream is None or not self._stream.active or \
                (self._voice is not None and self._voice.refused is not None):
            self._voice = PageVoice(self.capture, on_stop=self._release)
            self._voice.made_by = "talklab.BrowserMicrophone()"
            self._stream = MediaStream([self._voice])
        return self._stream

    def _to_page(self, content: dict, buffers: list[bytes] | None = None) -> None:
        """Send to the page from the lab's loop, as if answering the page's last message.
        ipykernel 7 sends a comm's next messages from the page to the subshell of whatever
        the kernel last sent on it answered: sent as part of a cell (the loop's tasks are), it
        would bring the page's frames back to the main thread, where a busy cell stops them."""
        context = self._page_context
        if context is None:
            self.send(content, buffers)
        else:
            context.copy().run(self.send, content, buffers)

    # -- the learner's ears --------------------------------------------------------------------
    def listen(self, person: Any) -> None:
        """Play in the page what ``person`` hears (every call's audio, mixed), from now on;
        another call of ``listen`` changes whom. Runs in the background: no cell waits."""
        if self._listening is not None:
            self._listening.cancel()
        self._listening = asyncio.ensure_future(self._play(person))

    async def _play(self, person: Any) -> None:
        start, sent = time.monotonic(), 0
        while self.state != "closed" and not getattr(person, "closed", False):
            due = start + sent * FRAME_SECONDS
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # a clock, 20 ms a frame
            elif delay < -0.2:  # fell behind (a busy loop): skip ahead, do not burst
                start, sent = time.monotonic(), 0
            ears = [link.ear for link in list(person.links.values())]
            frame = self._mix.frame(ears)
            sent += 1
            queued = self.playback.get("queued") or 0
            if self.state == "streaming" and queued < self.max_seconds:
                self._to_page({"type": "play", "rate": SAMPLE_RATE}, [frame.tobytes()])

    # -- closing --------------------------------------------------------------------------------
    def _release(self, why: str = "your person left, or the lab closed") -> None:
        """Let the microphone go in the page: its tracks end."""
        if self._listening is not None:
            self._listening.cancel()
            self._listening = None
        if self.comm is not None and self.state != "closed":
            self.send({"type": "close", "why": why})
            self.state, self.label, self.detail = "closed", LABELS["closed"], why

    def close(self) -> None:
        """Stop listening, end the learner's voice, and release the microphone in the page
        (its tracks end), then close the widget."""
        self._release("the widget was closed in the kernel")
        if self._stream is not None:
            self._stream.stop()
        super().close()

    def __repr__(self) -> str:
        return ("your microphone (a widget: shown where JupyterLab runs anywidget's front end; "
                f"now: {self.state})")
