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
buffers of custom messages. A saved notebook keeps no widget either: once the microphone is
closed (the widget, its person or the lab), the widget's place on the page is replaced by a
still, in plain HTML, of what it did (:meth:`BrowserMicrophone.still`), as talklab's live views
do (:mod:`talklab.views.live`). One microphone at a time: a new one (a cell run again) closes
the last, which lets the learner's microphone go.

Tested in tests/test_microphone.py (states, bounds and release without a browser; the widget
in real JupyterLab and Chromium with a fake microphone).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import html
import math
import pathlib
import time
from collections import deque
from typing import Any, ClassVar

import anywidget
import numpy as np
import traitlets

from talklab.browser.latency import Delay, Envelope, clock_offset, delay
from talklab.browser.learner import MAX_SECONDS, CaptureBuffer, Mix, PageVoice
from talklab.browser.media import FRAME_SECONDS, SAMPLE_RATE, MediaStream, NotAllowedError
from talklab.notebook import Sentence, on_interrupt
from talklab.views.live import LiveOutput, bundle, html_bundle

_JS = pathlib.Path(__file__).with_name("microphone.js")

LABELS = {
    "no browser": "waiting for a browser to show this widget (a headless run never shows it; "
                  "a page that shows an error or a sentence instead of a button lacks anywidget's "
                  "front end, see talklab's README)",
    "not clicked": "click the button to join with your microphone",
    "refused": "the browser refused the microphone (NotAllowedError): allow it for this site "
               "in the address bar and click again",
    "insecure": "this page is not a secure context, so the browser gives it no microphone: "
                "open JupyterLab over https, or as localhost (for example through an SSH tunnel)",
    "streaming": "your microphone is in the kernel",
    "paused": "kernel busy: audio paused (the kernel has not read this page's last two seconds "
              "of audio: a cell is running, or the machine is busy)",
    "closed": "closed: your microphone is released",
}
ACK_EVERY = 5  # frames: how often the kernel tells the page how many it has read
# what the notebook shows where there is no widget front end (and where it cannot be drawn)
TEXT = ("your microphone and ears: a button to click in JupyterLab (if you read this sentence "
        "instead, this JupyterLab lacks anywidget's front end: see talklab's README)")


# the longest delay a leg of latency is looked for at (s): 0.4 to 0.6 s measured over local
# JupyterLab; searched out to 3 s, a piece of speech-like bursts found a false match a second or
# two later now and then (a learner trial read 0.5, 2.1, 0.6, 1.3 s in a row), so a longer delay
# is said not measurable rather than guessed
MAX_LAG = 1.5


class MicrophoneClosed(Sentence, RuntimeError):
    """``mic.stream`` of a microphone that was closed (by itself, its person, or its lab): said
    in one sentence, without talklab's frames."""


class BrowserMicrophone(anywidget.AnyWidget):
    """The learner's microphone and ears, from their own page (see the module's docstring)."""

    _esm = _JS.read_text()
    state = traitlets.Unicode("no browser").tag(sync=True)
    label = traitlets.Unicode(LABELS["no browser"]).tag(sync=True)
    detail = traitlets.Unicode("").tag(sync=True)
    processing = traitlets.Bool(True).tag(sync=True)  # echo cancellation, noise, gain
    # what the page says by itself when the kernel stops reading it (it cannot ask the kernel)
    paused_label = traitlets.Unicode(LABELS["paused"]).tag(sync=True)

    _current: ClassVar[BrowserMicrophone | None] = None  # one at a time (see the module)

    def __init__(self, processing: bool = True, max_seconds: float = MAX_SECONDS) -> None:
        super().__init__(processing=processing)
        self.tracks: list[str] = []  # the page's track states, as it last reported them
        self.streamed = False  # the page has streamed (its microphone was opened) at some time
        self.heard_last: tuple[float, float] | None = None  # the page's last (Hz, dBFS) heard
        self._output = LiveOutput()
        self.max_seconds = max_seconds  # kept of the page's audio, and queued for its playback
        self.capture = CaptureBuffer(max_seconds)
        self._voice: PageVoice | None = None
        self._stream: MediaStream | None = None
        self._mix = Mix(max_seconds)
        self._listening: asyncio.Task | None = None
        self._timing: asyncio.Task | None = None
        self.legs: dict[str, dict[str, Delay | None]] = {"up": {}, "down": {}}
        self._page_context: contextvars.Context | None = None
        self.playback: dict[str, Any] = {}  # what the page measured of what it plays
        self.refusal: str | None = None
        self.listening_to: Any = None  # the person whose ears the page plays (listen())
        # for the two legs of latency (latency()): the loudness of what the page captured and
        # of what it played, on the page's clock, and that clock's offset from the kernel's
        self.captured, self.played = Envelope(), Envelope()
        self._clock: deque[tuple[float, float]] = deque(maxlen=20)  # (round trip, offset)
        self.input_latency: float | None = None  # s, as the page's track reports it
        self.on_msg(self._message)
        previous, BrowserMicrophone._current = BrowserMicrophone._current, self
        if previous is not None:
            previous.close()
        self._quiet_interrupt = on_interrupt(self._interrupted, last=True)  # (a lab speaks first)

    def _interrupted(self) -> str:
        """What Interrupt Kernel says of this microphone, where no lab has anything to say
        (see :func:`talklab.notebook.on_interrupt`)."""
        if self.state == "closed":
            return ""
        return (f"Your browser's microphone is unchanged (its widget says: {self.label}). Run "
                "this cell again before the next (it did not finish: what it was reading may "
                "be missing).")

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
                pcm = np.frombuffer(buffers[0], np.float32)
                self.capture.push(pcm, int(rate))
                t = _number(content.get("t"))  # ms, page's clock, when its last sample came
                if t is not None and pcm.size:
                    self.captured.add_samples(t / 1000 - pcm.size / rate, pcm)
            if self.capture.frames % ACK_EVERY == 0:
                self._ack()
        elif kind == "ping":
            self._ack()
        elif kind == "clock":
            self._clock_message(content)
        elif kind == "state" and isinstance(content.get("state"), str):
            tracks = content.get("tracks")
            if isinstance(tracks, list):
                self.tracks = [str(t)[:10] for t in tracks[:4]]
            self._page_state(content["state"], str(content.get("detail", ""))[:300])
        elif kind == "playback":
            self.playback = {k: v if isinstance(v, (int, float)) else None for k, v in
                             ((k, content.get(k)) for k in
                              ("level_dbfs", "hz", "queued", "sent", "acked"))}
            tracks = content.get("tracks")
            self.playback["tracks"] = [str(t)[:10] for t in tracks[:4]] \
                if isinstance(tracks, list) else []
            self.playback["at"] = time.monotonic()
            hz, level = self.playback.get("hz"), self.playback.get("level_dbfs")
            if hz is not None and level is not None:
                self.heard_last = (hz, level)
            heard = content.get("heard")
            for point in heard[:100] if isinstance(heard, list) else []:
                at, level = (_number(v) for v in point) if isinstance(point, list) and \
                    len(point) == 2 else (None, None)
                if at is not None and level is not None:
                    self.played.add(at / 1000, level)
            latency = _number(content.get("input_latency"))
            self.input_latency = latency if latency is not None and 0 <= latency < 5 else None

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
        if self.state == "closed":  # (the page confirms: its tracks are in self.tracks)
            self._show_still()
            return
        if state == "paused":
            detail = ""  # (its label says it all)
        if state == "refused":
            self.refusal = detail or "NotAllowedError: permission denied"
            if self._voice is not None:
                self._voice.refused = self.refusal
        elif state == "streaming":
            self.refusal = None  # allowed on a later click
            self.streamed = True
        self.state, self.detail, self.label = state, detail, LABELS[state]

    def _clock_message(self, content: dict) -> None:
        """The page's clock, against the kernel's: the page asks the time (``t0``), and reports
        when the answer came back (``t1``, both in ms on its clock) with the answer (``tk``)."""
        t0, t1, tk = (_number(content.get(k)) for k in ("t0", "t1", "tk"))
        if t0 is None:
            return
        if "t1" not in content:  # a question: answered at once, from the thread that read it
            self.send({"type": "clock", "t0": t0, "tk": time.time()})
        elif t1 is not None and tk is not None and 0 <= t1 - t0 < 10_000:
            offset, round_trip = clock_offset(t0 / 1000, tk, t1 / 1000)
            self._clock.append((round_trip, offset))

    @property
    def page_clock_offset(self) -> float | None:
        """The page's clock minus the kernel's, in s, from the quickest recent round trip (the
        midpoint is surest when the trip was short), or None before the first."""
        return min(self._clock)[1] if self._clock else None

    def _on_kernel_clock(self, envelope: Envelope) -> Envelope:
        moved, offset = Envelope(), self.page_clock_offset or 0.0
        moved.points.extend((t - offset, level) for t, level in envelope.points)
        return moved

    def latency(self, lab: Any) -> dict[str, dict[str, Delay | None]]:
        """The two legs of latency, measured from the last ten seconds (see
        :mod:`talklab.browser.latency`): ``"up"``, from the page's microphone to each other
        person's decoded audio; ``"down"``, from each other person's voice to the page's
        speakers. None where it cannot be told (a steady tone, silence, too little yet). The
        first call starts keeping loudness where it is needed: ask again a few seconds later."""
        me = self.listening_to
        if me is None:
            raise ValueError("no one is listened to yet: mic.listen(person) first")
        up: dict[str, Delay | None] = {}
        down: dict[str, Delay | None] = {}
        captured, played = self._on_kernel_clock(self.captured), self._on_kernel_clock(
            self.played)
        for other in list(lab.people.values()):
            if other is me or other.closed or not any(
                    link.remote_name == other.name for link in me.links.values()):
                continue
            ear = next((link.ear for link in other.links.values()
                        if link.remote_name == me.name), None)
            if ear is not None:
                ear.envelope = ear.envelope or Envelope()
                up[other.name] = delay(captured, ear.envelope, max_lag=MAX_LAG, step=0.02)
            voice = other.stream.audio
            voice.envelope = voice.envelope or Envelope()
            down[other.name] = delay(voice.envelope, played, max_lag=MAX_LAG, step=0.02)
        return {"up": up, "down": down}

    def _ack(self) -> None:
        """Tell the page how many frames the kernel has read (from the thread that read them:
        the page pauses when they stop coming, that is when the kernel stops reading)."""
        self.send({"type": "ack", "received": self.capture.frames})

    # -- the learner's voice -------------------------------------------------------------------
    @property
    def stream(self) -> MediaStream:
        """The learner's microphone as a MediaStream, for ``lab.join(..., stream=mic.stream)``.
        Raises :class:`NotAllowedError` if the learner's browser refused it, and
        :class:`MicrophoneClosed` once it was closed (it hears nothing more from the page)."""
        if self.state == "closed":
            raise MicrophoneClosed(
                f"this microphone was closed ({self.detail or 'released'}) and hears nothing "
                "more: run the cell that makes it (`mic = talklab.BrowserMicrophone()`) again, "
                "click its button, then this cell")
        if self.refusal is not None:
            raise NotAllowedError("your browser refused the microphone "
                                  f"({self.refusal.removeprefix('NotAllowedError: ')}); "
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
    def listen(self, person: Any, lab: Any = None) -> None:
        """Play in the page what ``person`` hears (every call's audio, mixed), from now on;
        another call of ``listen`` changes whom. With ``lab``, the widget shows the two legs of
        latency too, every two seconds (:meth:`latency`). Runs in the background: no cell
        waits."""
        for task in (self._listening, self._timing):
            if task is not None:
                task.cancel()
        self.listening_to = person
        self._listening = asyncio.ensure_future(self._play(person))
        self._timing = asyncio.ensure_future(self._show_latency(lab)) if lab is not None \
            else None

    async def _show_latency(self, lab: Any) -> None:
        while self.state != "closed" and not getattr(self.listening_to, "closed", False):
            legs = self.latency(lab)
            for leg, found in legs.items():  # a leg not measurable now keeps its last value
                for name, measured in found.items():
                    if measured is None and self.legs[leg].get(name) is not None:
                        found[name] = self.legs[leg][name]
            self.legs = legs
            if self.state in ("streaming", "paused"):
                self._to_page({"type": "latency", "text": latency_text(legs,
                                                                        self.input_latency)})
            await asyncio.sleep(2.0)  # (a sampling period, not a wait for an event)

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
        for task in (self._listening, self._timing):
            if task is not None:
                task.cancel()
        self._listening = self._timing = None
        if self.comm is not None and self.state != "closed":
            self.send({"type": "close", "why": why})
            self.state, self.label, self.detail = "closed", LABELS["closed"], why
            self._show_still()

    def close(self) -> None:
        """Stop listening, end the learner's voice, and release the microphone in the page
        (its tracks end), then close the widget."""
        self._release("the widget was closed in the kernel")
        if self._stream is not None:
            self._stream.stop()
        if BrowserMicrophone._current is self:
            BrowserMicrophone._current = None
        self._quiet_interrupt()
        super().close()

    def summary(self) -> str:
        """One paragraph for the learner: what reached the kernel of their voice, what the
        ears they listen through decoded, and what their page played (or, with no browser,
        what it would have played)."""
        frames = self.capture.frames
        voice = (f"Your browser sent {_frames(frames)} "
                 f"({self.capture.received / SAMPLE_RATE:.1f} s) of your voice to this kernel."
                 if frames else
                 "Nothing of your voice reached this kernel: "
                 + ("no browser showed the widget (a headless run, as the course's tests run it)."
                    if self.state == "no browser" else
                    "you have not clicked the widget's button yet (click it: your voice goes in "
                    "from then on)." if self.state == "not clicked" else
                    f"the widget says: {self.label}."))
        if frames and self._stream is None:
            voice += (" Nobody in the room speaks with it yet: a person takes it as their voice "
                      "with `lab.join(name, voice=True, stream=mic.stream)` (run that cell again "
                      "after making a new widget: the person before kept the old, closed one).")
        person = self.listening_to
        if person is None:
            return voice + " No one's ears are played to you yet: mic.listen(person)."
        pitches = person.hears()
        decoded = ", ".join(f"{name} at {hz:.0f} Hz" for name, hz in sorted(pitches.items()))
        ears = (f" In this kernel, {person.name}'s ears decoded {decoded or 'silence'}: that mix "
                "is what the widget plays you.")
        if self.heard_last is not None:
            hz, level = self.heard_last
            page = (f" Your page last measured {hz:.0f} Hz at {level:.0f} dBFS in what it played "
                    "(the loudest tone of the mix).")
        elif frames or self.state in ("streaming", "paused", "not clicked"):
            page = " Your page has not reported what it plays yet."
        else:
            page = (" With a browser you would have heard it in your headphones, and seen the "
                    "loudness rows rise while you spoke.")
        timed = [f"{leg} {1000 * d.seconds:.0f} ms" for leg, d in (
            *((f"your voice to {name}'s ears", d) for name, d in sorted(self.legs["up"].items())),
            *((f"{name}'s voice to your ears", d) for name, d in sorted(self.legs["down"].items())))
            if d is not None]
        late = f" Timed by loudness: {', '.join(timed)}." if timed else ""
        return voice + ears + page + late

    # -- on the page ------------------------------------------------------------------------------
    def still(self) -> str:
        """What the widget did, in plain HTML: its place on the page once it is closed."""
        seconds = self.capture.received / SAMPLE_RATE
        if self.capture.frames:
            voice = (f"{_frames(self.capture.frames)} ({seconds:.1f} s) of your voice reached "
                     "the kernel")
        elif self.refusal is not None:
            voice = "nothing of your voice reached the kernel (your browser refused it)"
        else:
            voice = ("nothing of your voice reached the kernel (no browser showed this widget, "
                     "or its button was not clicked)")
        ears = (f"what you heard last: {self.heard_last[0]:.0f} Hz at "
                f"{self.heard_last[1]:.0f} dBFS" if self.heard_last is not None
                else "you heard nothing through it")
        tracks = ", ".join(self.tracks) or ("released when it closed" if self.streamed
                                            else "none opened")
        why = f" ({html.escape(self.detail)})" if self.detail else ""
        return (f"<div class='talklab-microphone-still' data-tracks='{html.escape(tracks)}'>"
                f"<b>Your microphone</b>: {html.escape(self.state)}{why}. While it ran, "
                f"{voice}; {ears}. Your browser's microphone tracks: {html.escape(tracks)}."
                "<br><small><i>closed: this is what it did; run its cell again for a new one"
                "</i></small></div>")

    def _show_still(self) -> None:
        self._output.update(html_bundle(self.still(), TEXT))

    def _ipython_display_(self) -> None:
        if self.state == "closed":
            self._output.show(html_bundle(self.still(), TEXT))
        else:
            self._output.show(bundle(self, TEXT))

    def __repr__(self) -> str:
        return f"{TEXT} (now: {self.state})"


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (a page can send anything)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def latency_text(legs: dict[str, dict[str, Delay | None]], input_latency: float | None) -> str:
    """The two legs, in one line for the widget."""
    def say(found: dict[str, Delay | None], arrow: str, nobody: str) -> str:
        told = [arrow.format(name) + f" {1000 * d.seconds:.0f} ms"
                for name, d in sorted(found.items()) if d is not None]
        return ", ".join(told) or nobody + " not measurable yet"
    up = say(legs["up"], "your voice → {}'s ears", "your voice → their ears:")
    if input_latency is not None and any(legs["up"].values()):
        up += f" (each, plus {1000 * input_latency:.0f} ms your browser took to capture it)"
    down = say(legs["down"], "{}'s voice → your ears", "their voices → your ears:")
    return (f"{up}; {down}. (Timed by loudness: speak, or listen to a voice that changes; a "
            "steady tone or a regular beep cannot be timed.)")
