"""A student tells the teacher's dashboard how each of their calls is.

The signaling server never sees audio, so the dashboard's links come from the people in them:
whenever one of a person's calls changes (its state, its route), the person sends talklab's own
event ``talklabLinkReport {room, links: [{peer, state, route}]}`` (the server's
:mod:`talklab.server.classroom` keeps the latest). ``state`` is talklab's link state, so a link
reported ``connected`` has carried audio; ``route`` is the chosen pair's (host, srflx, prflx,
relay). Reports are coalesced: many changes in one turn of the event loop make one report, and
one equal to the last sent is not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from ..events import Event

if TYPE_CHECKING:
    from ..person import Person

REPORT_EVENT = "talklabLinkReport"  # (the server's talklab.server.classroom.REPORT_EVENT)
WATCHED = frozenset({"link-state", "link-step", "link-created", "link-closed", "voice-joined"})


def links_of(person: Person) -> list[dict[str, Any]]:
    """What ``person`` would report now: each current call's peer, state and route."""
    return [{"peer": sid, "state": link.state, "route": link.route}
            for sid, link in sorted(person.links.items()) if not link.closed]


class LinkReporter:
    """Sends ``person``'s reports while they are in voice (see the module docstring)."""

    def __init__(self, person: Person) -> None:
        self.person = person
        self.sent: list[dict[str, Any]] | None = None
        self.reports = 0
        self._pending: asyncio.Task | None = None
        self._unsubscribe = person.events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.kind not in WATCHED or event.data.get("person") != self.person.name \
                or self._pending is not None:
            return
        if self.person.closed or not self.person.in_voice:
            return
        self._pending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        await asyncio.sleep(0)  # (the rest of this turn's changes, in one report)
        self._pending = None
        person = self.person
        if person.closed or not person.in_voice or not person.signaling:
            return
        links = links_of(person)
        if links == self.sent:
            return
        self.sent = links
        self.reports += 1
        with contextlib.suppress(Exception):  # (signaling went away: nobody to tell)
            await person.emit(REPORT_EVENT, {"room": person.room, "links": links})

    def close(self) -> None:
        self._unsubscribe()
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
