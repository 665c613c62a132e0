"""The room as a graph, built from what the lab's people know: the seed's *Visual Summary*.

Nodes are people; edges are calls. Both come from the people themselves, never from the
signaling server's internals: who is in a room and in voice is what the server *told* each
person (their :class:`~talklab.roomview.RoomView`), and each edge is a person's
:class:`~talklab.link.Link` with its state and route. So the same drawing works whichever
server the people talk to, and after the server is gone (Step 9).

People the lab did not make (the seed's browser page, a student on another machine) appear
through what the lab's people were told of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import networkx as nx

if TYPE_CHECKING:
    from .person import Person

# from least to most advanced: of the two sides' views, an edge shows the less advanced
RANK = {s: i for i, s in enumerate(("closed", "failed", "new", "disconnected", "connecting",
                                    "connected"))}


def names_by_sid(people: Iterable[Person]) -> dict[str, str]:
    """A display name per socket id: a person's own name, made unique if two share one."""
    people = list(people)
    names: dict[str, str] = {}
    for p in people:
        if p.sid is not None:
            names[p.sid] = p.name
    for p in people:
        for sid, seen in p.view.members.items():
            names.setdefault(sid, seen.username)
    taken: dict[str, int] = {}
    for name in names.values():
        taken[name] = taken.get(name, 0) + 1
    for sid, name in list(names.items()):
        if taken[name] > 1 and not any(p.sid == sid for p in people):
            names[sid] = f"{name} ({sid[:4]})"
    return names


def room_graph(people: Iterable[Person]) -> nx.Graph:
    """Nodes: ``room``, ``in_room``, ``in_voice``, ``kind`` ("python" for the lab's people,
    "browser" for others), ``tone_hz``, ``nat``, ``signaling``. Edges: ``state``, ``route``."""
    people = [p for p in people if not p.closed]
    names = names_by_sid(people)
    g = nx.Graph()
    ours = {p.sid for p in people}
    for p in people:
        g.add_node(p.name, sid=p.sid, room=p.room, in_room=p.room is not None,
                   in_voice=p.in_voice, kind="python", tone_hz=p.tone_hz, nat=p.nat,
                   signaling=p.signaling)
    for p in people:
        for sid, seen in p.view.members.items():
            if sid in ours or sid not in names:
                continue
            name = names[sid]
            in_voice = seen.in_voice or (name in g and bool(g.nodes[name]["in_voice"]))
            g.add_node(name, sid=sid, room=p.room, in_room=True, in_voice=in_voice,
                       kind="browser", tone_hz=None, nat=None, signaling=True)
    for p in people:
        for sid, link in list(p.links.items()):
            if link.closed or sid not in names:
                continue
            a, b = p.name, names[sid]
            state, route = link.state, link.route
            if g.has_edge(a, b):  # the other side's view: keep the less advanced state
                other = g.edges[a, b]
                if RANK.get(other["state"], 0) < RANK.get(state, 0):
                    state = other["state"]
                route = other["route"] or route
            g.add_edge(a, b, state=state, route=route)
    return g


def expected_peers(person: Person, people: Iterable[Person]) -> set[str]:
    """The socket ids ``person`` should have a call with: everyone in voice in their room, as
    any of the lab's people knows it (a join may not have reached everyone yet)."""
    expected: set[str] = set()
    for q in people:
        if q.closed or q.room != person.room:
            continue
        if q.in_voice and q.sid is not None:
            expected.add(q.sid)
        expected |= {sid for sid, seen in q.view.members.items() if seen.in_voice}
    if person.sid is not None:
        expected.discard(person.sid)
    return expected


def calls_missing(people: Iterable[Person],
                  everyone: Iterable[Person]) -> list[tuple[Person, str, str]]:
    """``(person, socket id, connection state)`` for every call one of ``people`` in voice
    should have (as ``everyone`` knows the room) that has not carried audio yet (``"new"``:
    not even made)."""
    everyone = list(everyone)
    out = []
    for p in people:
        if not p.in_voice or p.closed:
            continue
        for sid in expected_peers(p, everyone):
            link = p.links.get(sid)
            if link is None:
                out.append((p, sid, "new"))
            elif link.state != "connected":
                out.append((p, sid, str(link.pc.connectionState)))
    return out
