"""The class's view of its rooms: what people report of their calls, and which rooms are locked.

A signaling server never sees audio: once offers, answers and candidates have passed, its job
is done (the seed's Step 9). So a teacher's dashboard cannot know from the server alone whether
Ana hears Ben. talklab's people tell it, with an event of talklab's own:

    talklabLinkReport {room, links: [{peer: <socketId>, state, route}]}

sent by each person whenever one of their calls changes (a seed client never sends it, and
the server never sends it to anyone, so a seed client works unchanged). A report replaces the
sender's previous one; it is kept only while the sender is in voice in that room, for at most
``voice_cap`` peers, so it costs the server a few hundred bytes per person at most.

A teacher may also **lock** a room: who is in it stays, nobody new may join it (``joinRoom``
answers ``signalingError``). Both are this process's own: with several servers on Redis, each
server's dashboard shows the reports of its own clients and locks the rooms it is asked to.

Everything here is plain state (no sockets, no awaits), driven by :mod:`.app` and read by
``GET /dashboard`` (:mod:`.http`) and by :class:`talklab.classroom.Classroom`.

Tested in tests/test_classroom.py (a link report checked and bounded, two ends making one link no
better than its worse end, reports forgotten when their person leaves, without sockets; locks and
bad reports on a live server) and tests/test_exercises_12.py (link_state beside the learner's rule).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from .member import Member, RoomError
from .payloads import MAX_ID, InvalidPayload

log = logging.getLogger("talklab.server.classroom")
REPORT_EVENT = "talklabLinkReport"
# RTCPeerConnection.connectionState values, and talklab's "connecting" (up, no audio yet)
STATES = ("new", "connecting", "connected", "disconnected", "failed", "closed")
# the chosen pair's route, as talklab.ice.route_of names it (RFC 8445, 5.1.1: candidate types)
ROUTES = ("host", "srflx", "prflx", "relay")
# how two sides' states combine into the link's: the worse one, in this order
_WORSE = {"failed": 0, "closed": 1, "disconnected": 2, "new": 3, "connecting": 4, "connected": 5}


def link_report(data: Any, voice_cap: int) -> list[tuple[str, str, str | None]]:
    """The ``links`` of a ``talklabLinkReport`` as ``(peer, state, route)``, checked:
    :class:`InvalidPayload` says what is wrong, and nothing is kept."""
    if not isinstance(data, dict) or not isinstance(data.get("links"), list):
        raise InvalidPayload("talklabLinkReport needs {room, links: [{peer, state, route}]}")
    links = data["links"]
    if len(links) > voice_cap:
        raise InvalidPayload(f"at most {voice_cap} links in a report (the voice cap)")
    out = []
    for link in links:
        if not isinstance(link, dict):
            raise InvalidPayload("each link is {peer, state, route}")
        peer, state, route = link.get("peer"), link.get("state"), link.get("route")
        if not isinstance(peer, str) or not 0 < len(peer) <= MAX_ID:
            raise InvalidPayload("a link's peer is the other person's socketId")
        if state not in STATES:
            raise InvalidPayload(f"a link's state is one of {', '.join(STATES)}")
        if route is not None and route not in ROUTES:
            raise InvalidPayload(f"a link's route is one of {', '.join(ROUTES)}, or null")
        out.append((peer, state, route))
    return out


def link_state(a: str | None, b: str | None) -> str:
    """One call's state from the states its two ends report (``None``: that end said nothing).

    The call is as good as its worse end: ``connected`` only when both say so (each has heard
    the other: a talklab link is ``connected`` once audio has arrived), ``failed`` when either
    gave up; one end alone saying ``connected`` is still ``connecting``.
    """
    if a is None and b is None:
        return "unreported"
    states = [s for s in (a, b) if s is not None]
    state = min(states, key=_WORSE.__getitem__)
    return "connecting" if state == "connected" and len(states) < 2 else state


Rule = Callable[[str | None, str | None], str]


def combined(a: dict | None, b: dict | None, rule: Rule = link_state) -> tuple[str, str | None]:
    """One link's state (by ``rule``: :func:`link_state`) and route from its two ends' reports.

    The route is the first end's that names one (a NAT's far side may see ``prflx`` where the
    near side sees ``srflx``: the dashboard keeps both reports as given).
    """
    state = rule(a["state"] if a else None, b["state"] if b else None)
    routes = [end["route"] for end in (a, b) if end is not None and end["route"]]
    return state, (routes[0] if routes else None)


class ClassState:
    """Locks and link reports, for one signaling server (see the module docstring)."""

    def __init__(self) -> None:
        self.locked: set[str] = set()
        self._reports: dict[str, tuple[str, dict[str, dict]]] = {}  # sid -> (room, peer -> end)
        self.listeners: list[Callable[[], None]] = []  # told of every report (a teacher's view)

    # -- locks ----------------------------------------------------------------------------
    def lock(self, room: str) -> None:
        self.locked.add(room)

    def unlock(self, room: str) -> None:
        self.locked.discard(room)

    def check_open(self, room: str) -> None:
        """A newcomer may join ``room`` unless the teacher locked it (:class:`RoomError`)."""
        if room in self.locked:
            raise RoomError(f"room {room} is locked by the teacher: nobody new may join")

    # -- reports --------------------------------------------------------------------------
    def report(self, member: Member, links: Iterable[tuple[str, str, str | None]]) -> None:
        """``member`` (in voice) says how its calls are: replaces what it said before."""
        self._reports[member.sid] = (member.room, {
            peer: {"state": state, "route": route} for peer, state, route in links})
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # a teacher's view must never cost a student their report
                log.exception("a dashboard listener failed")

    def forget(self, sid: str) -> None:
        """``sid`` left voice, its room or the server: its report is void."""
        self._reports.pop(sid, None)

    def end(self, sid: str, room: str, peer: str) -> dict | None:
        kept = self._reports.get(sid)
        if kept is None or kept[0] != room:
            return None
        return kept[1].get(peer)

    def __len__(self) -> int:
        return len(self._reports)

    # -- the dashboard --------------------------------------------------------------------
    def dashboard(self, rooms: dict[str, list[Member]], voice_cap: int,
                  messages: dict[str, int], rule: Rule = link_state) -> list[dict]:
        """Each room as the teacher sees it: who is in it and in voice, the seats left, each
        pair's link as its two people report it, and the signaling messages it has had."""
        out = []
        for room, members in sorted(rooms.items()):
            voice = [m for m in members if m.in_voice]
            links = []
            for a, b in itertools.combinations(voice, 2):
                end_a, end_b = self.end(a.sid, room, b.sid), self.end(b.sid, room, a.sid)
                state, route = combined(end_a, end_b, rule)
                links.append({"a": a.username, "b": b.username, "aSocketId": a.sid,
                              "bSocketId": b.sid, "state": state, "route": route,
                              "reports": {a.username: end_a, b.username: end_b}})
            out.append({"room": room, "locked": room in self.locked,
                        "members": [{"socketId": m.sid, "username": m.username,
                                     "inVoice": m.in_voice} for m in members],
                        "seatsLeft": max(0, voice_cap - len(voice)),
                        "links": links, "messages": messages.get(room, 0)})
        return out
