"""A student tells the teacher's dashboard how each of their calls is.

The signaling server never sees audio, so the dashboard's links come from the people in them:
whenever one of a person's calls changes (its state, its route), the person sends talklab's own
event ``talklabLinkReport {room, links: [{peer, state, route}]}`` (the server's
:mod:`talklab.server.classroom` keeps the latest). ``state`` is talklab's link state, so a link
reported ``connected`` has carried audio; ``route`` is the chosen pair's (host, srflx, prflx,
relay). Reports are coalesced: many changes in one turn of the event loop make one report, and
one equal to the last sent is not sent again.

Tested in tests/test_classroom.py (students' people report their calls: the teacher's dashboard
shows the call connected, with its route, and the live dashboard redraws as they join).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

REPORT_EVENT = "talklabLinkReport"  # (the server's talklab.server.classroom.REPORT_EVENT)
WATCHED = frozenset({"link-state", "link-step", "link-created", "link-closed", "voice-joined"})


def links_of(links: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What a person would report of ``links`` (socket id -> link): each current call's peer,
    state and route."""
    return [{"peer": sid, "state": link.state, "route": link.route}
            for sid, link in sorted(links.items()) if not link.closed]


class LinkReporter:
    """Sends a person's reports (see the module docstring). A child of the person: it is given
    ``report()``, what the person would report now (None while there is nothing to report:
    not in voice, closed, no signaling), and ``send(event, data)``; the person tells it
    :meth:`changed` when something it reports may have changed."""

    def __init__(self, report: Callable[[], dict | None],
                 send: Callable[[str, dict], Awaitable[None]]) -> None:
        self._report, self._send_event = report, send
        self.sent: dict | None = None
        self.reports = 0
        self._pending: asyncio.Task | None = None

    def changed(self, kind: str) -> None:
        """Something happened to the person (``kind``: an event of the lab's): if it is one
        that a report shows, send one soon (one for the whole turn of the loop)."""
        if kind not in WATCHED or self._pending is not None or self._report() is None:
            return
        self._pending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        await asyncio.sleep(0)  # (the rest of this turn's changes, in one report)
        self._pending = None
        report = self._report()
        if report is None or report == self.sent:
            return
        self.sent = report
        self.reports += 1
        with contextlib.suppress(Exception):  # (signaling went away: nobody to tell)
            await self._send_event(REPORT_EVENT, report)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
