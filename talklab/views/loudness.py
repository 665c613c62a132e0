"""One voice, arriving: how loud a speaker is in each listener's ears, live.

When the learner speaks into their own microphone (:class:`talklab.BrowserMicrophone`), the
proof that the room hears them is not a pitch (a speaker's echo of Alice's tone would fake
one) but energy: the loudness of what each listener decodes from the speaker's call rises when
the learner speaks and falls when they stop. This view reads it four times a second, from each
listener's ear on their call with the speaker (after Opus and the jitter buffer), and draws the
last fifteen seconds as a small line per listener, beside the level now. It runs in a task of
its own, so it keeps moving while no cell runs, and stops when its lab closes (or the same
lab gets a new view: a re-run cell), leaving its last frame on the page.

Tested in tests/test_views.py (the view follows a voice that starts and stops).
"""

from __future__ import annotations

import html
import math
import time
from collections import deque
from typing import Any

from talklab.views.live import SampledView
from talklab.views.stats import sparkline

FLOOR_DBFS = -60.0  # quieter than this is drawn as silence
EVERY = 0.25  # s between readings
WINDOW = 60  # readings kept: fifteen seconds


def loudness(ear: Any, seconds: float = EVERY) -> float:
    """The level of what an ear decoded in the last ``seconds``, in dBFS, floored at
    FLOOR_DBFS: silence when nothing came in that time (the speaker's voice ended: the ear
    still holds its last audio, which is not what it hears now)."""
    last = ear.last_frame_at
    if last is None or time.monotonic() - last > seconds + 0.1:
        return FLOOR_DBFS
    level = ear.level(min(seconds, time.monotonic() - ear.first_frame_at + 0.02))
    return FLOOR_DBFS if not math.isfinite(level) else max(FLOOR_DBFS, level)


class LoudnessView(SampledView):
    """How loud ``speaker`` is in every other person's ears, live.

        view = LoudnessView(lab, "Dave"); view       # in a notebook cell
        view.history["Alice"]                        # dBFS readings, oldest first
    """

    text = "how loud a voice arrives at each listener, live (run the notebook to see it move)"

    def __init__(self, lab: Any, speaker: str, every: float = EVERY,
                 window: int = WINDOW) -> None:
        super().__init__(lab, every)
        self.speaker = speaker
        self.history: dict[str, deque[float]] = {}
        self.window = window
        self.start()

    async def sample(self) -> None:
        """One reading of every listener's ear on their call with the speaker."""
        for person in list(self.lab.people.values()):
            if person.name == self.speaker or person.closed:
                continue
            link = next((link for link in person.links.values()
                         if link.remote_name == self.speaker and not link.closed), None)
            if link is not None:
                self.history.setdefault(person.name, deque(maxlen=self.window)).append(
                    loudness(link.ear, self.every))

    def level(self, listener: str) -> float:
        """The last reading for ``listener`` (FLOOR_DBFS if none)."""
        series = self.history.get(listener)
        return series[-1] if series else FLOOR_DBFS

    def frame(self) -> str:
        speaker = html.escape(self.speaker)
        rows = []
        for name, series in sorted(self.history.items()):
            now = series[-1] if series else FLOOR_DBFS
            said = "silence" if now <= FLOOR_DBFS else f"{now:.0f} dBFS"
            line = sparkline([v - FLOOR_DBFS for v in series], width=220,
                             top=-FLOOR_DBFS, colour="#15803d")
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{said}</td><td>{line}</td></tr>")
        body = "".join(rows) or (
            "<tr><td colspan='3'><i>waiting for the first reading</i></td></tr>"
            if not self.readings else
            f"<tr><td colspan='3'><i>nobody has a call with {speaker} yet</i></td></tr>")
        return (f"<table style='font-size:85%'><tr><th>listener</th><th>{speaker}, now</th>"
                f"<th>{speaker}'s loudness in their ears, last "
                f"{self.window * self.every:.0f} s (silence at the bottom)</th></tr>{body}"
                f"</table><small>readings: {self.readings}, every {self.every:g} s, of the "
                "audio each listener decoded</small>")
