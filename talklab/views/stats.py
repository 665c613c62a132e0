"""A webrtc-internals of talklab's own: each call's counters, live, as a browser shows them.

Chrome's ``chrome://webrtc-internals`` page graphs what ``getStats()`` reports. This view does
the same for a lab's calls, while the room runs: for each call (one person's link to another),
packets and kilobits per second each way (from the counters' differences between readings),
packets lost, jitter, and the round-trip time RTCP measures (RFC 3550, 6.4: the sender's report
comes back in the other side's receiver report), with the route of the selected candidate pair,
and a small graph of the last half-minute.

The view reads :meth:`talklab.browser.link.Link.stats` once a second in a task of its own, so it
keeps moving while no cell runs; it stops when its lab closes, when the same lab gets a new view (a
re-run cell), or on :meth:`LinkStatsView.close`.

Tested in tests/test_views.py (the stats view reads rates and stops with the lab) and
tests/test_exercises_00.py (on notebook 00's room).
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from talklab.browser.link import Link, LinkStats
from talklab.notebook import made_by
from talklab.views.live import SampledView


@dataclass(frozen=True)
class Rates:
    """What happened on a call between two readings."""

    t: float
    pps_out: float
    pps_in: float
    kbps_out: float
    kbps_in: float
    lost: int  # their packets lost on the way to us, in all
    loss_percent: float  # of theirs expected since the last reading
    jitter_ms: float
    rtt_ms: float | None


def rates(before: LinkStats, after: LinkStats) -> Rates:
    """Rates from two cumulative readings (the way webrtc-internals computes its graphs)."""
    dt = max(after.t - before.t, 1e-6)
    received = after.packets_received - before.packets_received
    lost = after.packets_lost - before.packets_lost
    expected = received + max(0, lost)
    return Rates(t=after.t, pps_out=(after.packets_sent - before.packets_sent) / dt,
                 pps_in=received / dt,
                 kbps_out=8 * (after.bytes_sent - before.bytes_sent) / dt / 1000,
                 kbps_in=8 * (after.bytes_received - before.bytes_received) / dt / 1000,
                 lost=after.packets_lost,
                 loss_percent=100 * max(0, lost) / expected if expected else 0.0,
                 jitter_ms=after.jitter * 1000,
                 rtt_ms=None if after.rtt is None else after.rtt * 1000)


def sparkline(values: Sequence[float | None], width: int = 150, height: int = 26,
              colour: str = "#2563eb", top: float | None = None) -> str:
    """A tiny SVG line of ``values`` (None: no reading), for a table cell."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return f"<svg width='{width}' height='{height}'></svg>"
    top = top or max(v for _, v in points) or 1.0
    n = max(len(values) - 1, 1)
    path = " ".join(f"{width * i / n:.1f},{height - 2 - (height - 4) * min(v / top, 1):.1f}"
                    for i, v in points)
    return (f"<svg width='{width}' height='{height}' style='vertical-align:middle'>"
            f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{path}'/>"
            "</svg>")


class LinkStatsView(SampledView):
    """Live counters for every call in a lab (or for the links you give it).

        view = LinkStatsView(lab); view          # in a notebook cell
        view.history[("Alice", "Bob")]           # the Rates read so far, oldest first
    """

    text = "each call's counters, live (run the notebook to see them move)"
    def __init__(self, lab: Any, links: Iterable[Link] | None = None, every: float = 1.0,
                 window: int = 30) -> None:
        super().__init__(lab, every)
        self.window = window
        self.made_by = made_by()
        self._links = list(links) if links is not None else None
        self.history: dict[tuple[str, str], deque[Rates]] = {}
        self._last: dict[tuple[str, str], LinkStats] = {}
        self._shown: list[Link] = []  # the calls of the last reading
        self.start()

    def links(self) -> list[Link]:
        if self.closed:  # the calls as they were last read: a stopped view keeps its rows
            return self._shown
        if self._links is not None:
            return [link for link in self._links if not link.closed]
        return [link for p in list(self.lab.people.values()) for link in p.links.values()
                if not link.closed]

    async def sample(self) -> None:
        """One reading of every call's counters."""
        self._shown = self.links()
        for link in self._shown:
            key = (link.local_name, link.remote_name)
            now = await link.stats()
            before = self._last.get(key)
            self._last[key] = now
            if before is not None:
                self.history.setdefault(key, deque(maxlen=self.window)).append(
                    rates(before, now))

    def frame(self) -> str:
        head = ("<tr><th>call</th><th>route</th><th>state</th><th>pkt/s ↑</th>"
                "<th>pkt/s ↓</th><th>kbit/s ↑ / ↓</th>"
                f"<th>lost in all (% in the last {self.every:g} s)</th><th>jitter</th>"
                "<th>RTT</th><th>kbit/s ↓, last 30 s</th><th>RTT, last 30 s</th></tr>")
        rows = []
        for link in self.links():
            key = (link.local_name, link.remote_name)
            series = list(self.history.get(key, ()))
            last = series[-1] if series else None
            cells = [f"{html.escape(key[0])} → {html.escape(key[1])}", link.route or "…",
                     link.state]
            if last is None:
                cells += ["…"] * 6
            else:
                rtt = "…" if last.rtt_ms is None else f"{last.rtt_ms:.0f} ms"
                cells += [f"{last.pps_out:.0f}", f"{last.pps_in:.0f}",
                          f"{last.kbps_out:.0f} / {last.kbps_in:.0f}",
                          f"{last.lost} ({last.loss_percent:.0f} %)",
                          f"{last.jitter_ms:.1f} ms", rtt]
            cells += [sparkline([r.kbps_in for r in series], width=110),
                      sparkline([r.rtt_ms for r in series], width=110, colour="#b45309")]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        ended = self._links is not None and self._links and all(x.closed for x in self._links)
        none = "the calls it followed have ended (hung up)" if ended else "no calls yet"
        body = "".join(rows) or f"<tr><td colspan='11'><i>{none}</i></td></tr>"
        return (f"<div style='max-width:100%;overflow-x:auto'><table style='font-size:85%'>"
                f"{head}{body}</table></div>"
                f"<small>readings: {self.readings}, every {self.every:g} s</small>")

    def close(self) -> None:
        if not self.closed:
            self._shown = self.links()  # every call there is now, read or not (06: Carol's two)
        super().close()
