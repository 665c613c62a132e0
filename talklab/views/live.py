"""Live views that leave a true picture behind: redrawn in place while the room runs, and their
last frame, as plain HTML, once it stops.

A live view of talklab is not a widget but an output that replaces itself: shown with a display
id (:class:`LiveOutput`), and redrawn by sending the same display id a new frame, from any cell
or from a background task while no cell runs (Jupyter's ``update_display_data``). So at every
moment the notebook holds the view's latest frame as HTML: saved in the middle of a lesson or
after Run All and reopened, it shows what the room last looked like, never "Error displaying
widget: model not found" (a widget's output is only a pointer to a model that lives in the
kernel). When the view stops (its lab closes, a re-run cell replaces it) it draws the room's
last state once more, marked as stopped.

Redraws are throttled (:class:`Throttle`): a burst of events costs one redraw, at most every
``min_interval`` seconds, and a redraw still pending when the view stops is drawn at once.

A view of what has no events (loudness, counters) samples it instead (:class:`SampledView`):
a background task reads the lab every ``every`` seconds, so no cell waits for it; one such view
of a kind per lab (a re-run cell replaces the last one), stopped when the lab closes.

Where a view needs buttons (the room panel) it is a widget while it runs; it too replaces its
output with a picture when it stops. Every output carries a sentence of its own as its
plain-text form, so no learner ever sees a Python repr.

Tested in tests/test_views.py (a live mesh view redraws by itself and leaves its last drawing when
it closes; a sampled view re-run replaces the last one and stops with its lab) and
tests/test_exercises_00.py (a live output shows a sentence where it cannot be drawn).
"""

from __future__ import annotations

import asyncio
import html
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from talklab.events import until


def bundle(widget: Any, text: str) -> dict[str, Any]:
    """``widget``'s display data, with ``text`` as its plain-text form (an anywidget gives its
    data with metadata, as a pair)."""
    bundle = widget._repr_mimebundle_()
    data: dict[str, Any] = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
    data["text/plain"] = text
    return data


def html_bundle(html: str, text: str) -> dict[str, Any]:
    """An HTML output with ``text`` as its plain-text form."""
    return {"text/html": html, "text/plain": text}


class LiveOutput:
    """One place in the notebook that can be replaced: every output shown through it (a
    widget, or HTML) carries the same display id, and :meth:`update` replaces all of them."""

    def __init__(self) -> None:
        self.display_id = f"talklab-{uuid.uuid4().hex}"
        self.shown = False

    def show(self, data: dict[str, Any]) -> None:
        from IPython.display import display
        display(data, raw=True, display_id=self.display_id)
        self.shown = True

    def update(self, data: dict[str, Any]) -> None:
        """Replace what was shown (nothing happens if it never was)."""
        if not self.shown:
            return
        from IPython.display import update_display
        update_display(data, raw=True, display_id=self.display_id)


class Throttle:
    """Call ``action`` at most once every ``min_interval`` seconds, however often asked:
    :meth:`ask` coalesces a burst into one call, :meth:`flush` runs a pending call now."""

    def __init__(self, action: Callable[[], None], min_interval: float) -> None:
        self.action, self.min_interval = action, min_interval
        self._pending: asyncio.TimerHandle | None = None

    def ask(self) -> None:
        if self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # (no loop running, a plain script: now)
            self.action()
            return
        self._pending = loop.call_later(self.min_interval, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self.action()

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def flush(self) -> None:
        """Run a pending call now (nothing if none is pending)."""
        if self._pending is not None:
            self._pending.cancel()
            self._fire()

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


class LiveView:
    """A view redrawn in place: subclasses say what a frame is (:meth:`frame`, HTML) and when
    to redraw (:meth:`changed`, throttled; :meth:`redraw`, now); :meth:`stop` draws the last
    frame, marked as stopped, and the output keeps it."""

    text = "a live view (run the notebook to see it move)"  # its plain-text form
    min_interval = 0.2

    def __init__(self) -> None:
        self.output = LiveOutput()
        self.closed = False
        self.redraws = 0
        self.html = ""
        self._throttle = Throttle(self.redraw, self.min_interval)

    def frame(self) -> str:
        raise NotImplementedError

    def stopped_note(self) -> str:
        """A line under the last frame, once stopped."""
        return "stopped: this is its last state"

    def changed(self) -> None:
        """Something the view shows has changed: redraw soon."""
        if not self.closed:
            self._throttle.ask()

    def note(self) -> str:
        """The line under a frame: while the view runs, when it was drawn (a notebook saved
        now and opened later keeps this frame, and must not pass for the room as it is)."""
        if self.closed:
            return self.stopped_note()
        return (f"live: drawn at {time.strftime('%H:%M:%S on %d %b')}, and again as the room "
                "changes while this kernel runs (a notebook reopened later shows this frame)")

    def _draw(self) -> str:
        return self.frame() + f"<div><small><i>{self.note()}</i></small></div>"

    def redraw(self) -> None:
        self.html = self._draw()
        self.redraws += 1
        self.output.update(self.data())

    def data(self) -> dict[str, Any]:
        return html_bundle(self.html, self.text)

    def stop(self) -> None:
        """Stop following; draw the last state once more, marked, and leave it in place."""
        if self.closed:
            return
        self._throttle.cancel()
        self.closed = True
        self.redraw()

    def _ipython_display_(self) -> None:
        if not self.html:
            self.html = self._draw()
        self.output.show(self.data())


class SampledView(LiveView):
    """A live view that samples ``lab`` every ``every`` seconds in a background task
    (:meth:`sample`, then a redraw), one of its kind per lab, stopped when the lab closes."""

    _current: ClassVar[dict[tuple[type, int], SampledView]] = {}

    def __init__(self, lab: Any, every: float) -> None:
        super().__init__()
        self.lab, self.every = lab, every
        self.readings = 0
        self._read = asyncio.Event()

    def start(self) -> None:
        """Replace the view of this kind already following ``lab`` (a re-run cell), and start
        sampling. Subclasses call it last in their ``__init__``."""
        self.html = self._draw()
        key = (type(self), id(self.lab))
        previous = SampledView._current.get(key)
        if previous is not None:
            previous.close()
        SampledView._current[key] = self
        self._unsubscribe = self.lab.events.subscribe(
            lambda event: self.close() if event.kind in ("lab-closing", "lab-closed") else None)
        self._task = asyncio.ensure_future(self._run())

    async def sample(self) -> None:
        """Read what the view shows, once."""
        raise NotImplementedError

    async def read(self) -> None:
        """Take one reading now (the task does this every ``every`` s)."""
        await self.sample()
        self.readings += 1
        self.redraw()
        self._read.set()

    async def wait_readings(self, count: int, timeout: float = 10) -> None:
        """Wait until ``count`` readings in all have been taken."""
        await until(self._read, lambda: self.readings >= count, timeout)

    async def _run(self) -> None:
        while not self.closed:
            try:
                await self.read()
            except Exception as exc:  # a view must never take the room down
                self.html = f"<i>unavailable: {html.escape(str(exc))}</i>"
                self.output.update(self.data())
            await asyncio.sleep(self.every)  # (a sampling period, not a wait for an event)

    def stopped_note(self) -> str:
        return "stopped: the lab closed (or this view was replaced); these are its last readings"

    def close(self) -> None:
        if self.closed:
            return
        self._unsubscribe()
        self._task.cancel()
        key = (type(self), id(self.lab))
        if SampledView._current.get(key) is self:
            del SampledView._current[key]
        self.stop()
