"""The class dashboard, for the teacher's notebook: every room, who is in it, each call.

The data is the server's (``GET /dashboard``, or :meth:`Classroom.dashboard` in-process): per
room, its members and who holds a voice seat, the seats left, whether the teacher locked it,
the signaling messages it has had, and each pair's link **as the two people in it report it**
(:mod:`talklab.browser.report`): the server itself never sees audio. A link both report
``connected`` has carried audio both ways; one side only, or none, is drawn as not yet.

:class:`DashboardView` shows a table of rooms, a table of links that are not carrying audio
(with what each side says: the first thing to look at when a student cannot hear), and each
room's mesh, drawn like the course's (:mod:`talklab.views.room`).

Tested in tests/test_classroom.py (the view of rooms and trouble, without raw reprs; the dashboard
fetched over HTTP with the token; the live dashboard redrawn as students join).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import networkx as nx

from talklab.views.live import LiveView
from talklab.views.tables import Table


def room_graph(room: dict) -> nx.Graph:
    """One room of the dashboard as the course's mesh graph (nodes: people; edges: calls)."""
    graph = nx.Graph()
    for member in room["members"]:
        graph.add_node(member["username"], in_voice=member["inVoice"], kind="python",
                       room=room["room"])
    for link in room["links"]:
        graph.add_edge(link["a"], link["b"], state=link["state"], route=link["route"])
    return graph


def rooms_table(rooms: list[dict]) -> Table:
    rows = []
    for room in rooms:
        links = room["links"]
        rows.append({
            "room": room["room"] + (" (locked)" if room["locked"] else ""),
            "people": len(room["members"]),
            "in voice": sum(m["inVoice"] for m in room["members"]),
            "seats left": room["seatsLeft"],
            "calls carrying audio": f"{sum(ln['state'] == 'connected' for ln in links)} of "
                                    f"{len(links)}",
            "messages": room["messages"]})
    return Table(rows, "rooms")


def _says(end: dict | None) -> str:
    if end is None:
        return "nothing yet"
    return end["state"] + (f" via {end['route']}" if end.get("route") else "")


def links_table(rooms: list[dict], only_trouble: bool = False) -> Table:
    """Each call (or only those not carrying audio), with what each side reports."""
    rows = []
    for room in rooms:
        for link in room["links"]:
            if only_trouble and link["state"] == "connected":
                continue
            reports = link["reports"]
            rows.append({"room": room["room"], "call": f"{link['a']} – {link['b']}",
                         "state": link["state"], "route": link["route"] or "—",
                         "each side says": f"{link['a']}: {_says(reports.get(link['a']))} · "
                                           f"{link['b']}: {_says(reports.get(link['b']))}"})
    return Table(rows, "calls not carrying audio" if only_trouble else "calls")


class DashboardView:
    """A snapshot of the class: shows itself in Jupyter (``view.rooms`` keeps the data)."""

    def __init__(self, source: Callable[[], list[dict]] | list[dict], voice_cap: int = 6) -> None:
        self.rooms = source() if callable(source) else source
        self.voice_cap = voice_cap

    def drawing(self) -> Any:
        from talklab.views.drawing import Drawing, figure
        from talklab.views.room import draw_mesh, legend
        rooms = self.rooms[:6]  # (a class has more: the tables list them all)
        if not rooms:
            return None
        fig, axes = figure(min(7.5, 3.2 * len(rooms)), 3.2, columns=len(rooms))
        row = axes[0] if len(rooms) > 1 else [axes]
        for ax, room in zip(row, rooms, strict=True):
            voice = sum(m["inVoice"] for m in room["members"])
            carrying = sum(ln["state"] == "connected" for ln in room["links"])
            draw_mesh(room_graph(room), ax, f"{room['room']}: {carrying} of "
                      f"{len(room['links'])} calls carrying audio, {voice} in voice")
        legend(fig, [room_graph(room) for room in rooms])
        return Drawing.of(fig, "the class")

    def _repr_html_(self) -> str:
        if not self.rooms:
            return "<i>the class: nobody has joined yet</i>"
        parts = [rooms_table(self.rooms)._repr_html_()]
        trouble = links_table(self.rooms, only_trouble=True)
        if len(trouble):
            parts.append(trouble._repr_html_())
        drawing = self.drawing()
        if drawing is not None:
            parts.append(drawing.html())
        return "".join(parts)

    def __repr__(self) -> str:
        rooms, people = len(self.rooms), sum(len(r["members"]) for r in self.rooms)
        return (f"<the class: {rooms} room{'s' if rooms != 1 else ''}, {people} "
                f"{'person' if people == 1 else 'people'}>")


async def fetch_dashboard(url: str, token: str, timeout: float = 5) -> list[dict]:
    """``GET {url}/dashboard`` with the teacher's token (a talklab-server in a terminal)."""
    import aiohttp
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) \
                as session, session.get(f"{url.rstrip('/')}/dashboard",
                                        headers={"Authorization": f"Bearer {token}"}) as reply:
            if reply.status != 200:
                raise RuntimeError(f"the dashboard answered {reply.status}: "
                                   f"{html.unescape((await reply.text())[:200])}")
            rooms: list[dict] = (await reply.json())["rooms"]
            return rooms
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise RuntimeError(f"cannot reach {url}: {exc or type(exc).__name__}") from None


class LiveDashboard(LiveView):
    """The dashboard, redrawn in place as students join, leave and report (at most twice a
    second), even while no cell runs; it stops, leaving its last state, when the classroom
    closes. ``classroom.live()`` makes one."""

    text = "the class, live (run the notebook to see it redraw)"
    min_interval = 0.5
    EVENTS = frozenset({"roomJoined", "voiceJoined", "voiceLeft", "disconnect",
                        "userLeftRoom", "userLeftVoice"})

    def __init__(self, classroom: Any, min_interval: float = 0.5) -> None:
        self.min_interval = min_interval
        super().__init__()
        self.classroom = classroom
        app = classroom.server.app
        self._listeners = app.classroom.listeners
        self._listeners.append(self.changed)
        self._unsubscribe = app.trace.subscribe(self._on_trace)
        classroom.views.append(self)
        self.redraw()

    def _on_trace(self, entry: Any) -> None:
        if entry.event in self.EVENTS:
            self.changed()

    def frame(self) -> str:
        return DashboardView(self.classroom.dashboard())._repr_html_()

    def stopped_note(self) -> str:
        return "the classroom has closed: this is its last state"

    def close(self) -> None:
        """Stop following the class; the last state stays, marked as over."""
        if self.closed:
            return
        if self.changed in self._listeners:
            self._listeners.remove(self.changed)
        self._unsubscribe()
        self.stop()
