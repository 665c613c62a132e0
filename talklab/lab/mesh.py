"""The seed's full mesh as a kind of room: people call each other peer to peer, through the
seed's signaling; and the room as a graph, built from what the lab's people know: the seed's
*Visual Summary*.

:class:`MeshRooms` is what a lab holds for a mesh (:class:`talklab.lab.kinds.Rooms`): it adds
people through the lab's servers (its own, or a teacher's: :class:`talklab.lab.kinds.Servers`),
gives them the seed's handlers (or yours: :meth:`MeshRooms.on`), waits until every call has
carried audio, and draws the room.

Nodes are people; edges are calls. Both come from the people themselves, never from the
signaling server's internals: who is in a room and in voice is what the server *told* each
person (their :class:`~talklab.browser.room.RoomView`), and each edge is a person's
:class:`~talklab.browser.link.Link` with its state and route. So the same drawing works whichever
server the people talk to, and after the server is gone (Step 9).

People the lab did not make (the seed's browser page, a student on another machine) appear
through what the lab's people were told of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import networkx as nx

from talklab import _aiortc
from talklab.browser.media import MediaStream, get_user_media
from talklab.browser.person import Person, join_differences
from talklab.browser.room import SERVER_EVENTS
from talklab.events import Event, EventBus
from talklab.lab.diagnose import why_not_connected
from talklab.lab.kinds import Servers
from talklab.nat import Nat
from talklab.tasks import within

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


class MeshRooms:
    """The rooms of a lab whose people call each other: the seed's full mesh."""

    topology = "mesh"
    janus = None

    def __init__(self, servers: Servers, events: EventBus, settings: _aiortc.Settings) -> None:
        self.servers, self.events, self.settings = servers, events, settings
        self.people: dict[str, Person] = {}
        self.handlers: dict[str, Callable[..., Any]] = {}  # see on()
        events.subscribe(self._forget_closed)

    def _forget_closed(self, event: Event) -> None:
        """A person who hung up is no longer part of the lab."""
        if event.kind == "closed":
            person = self.people.get(event["person"])
            if person is not None and person.closed:
                del self.people[event["person"]]

    def check(self) -> None:
        """A mesh needs nothing more than the servers."""

    async def start(self) -> None:
        """Nothing to start: people come with their joins."""

    async def close(self, because: str) -> None:
        people, self.people = list(self.people.values()), {}
        await asyncio.gather(*(p.close(because) for p in people), return_exceptions=True)

    def on(self, event: str, handler: Callable[[Person, dict], Any] | None) -> None:
        """Every person, here now and joining later, handles ``event`` with ``handler(person,
        data)`` instead of talklab's (:meth:`Person.on`); ``None`` puts talklab's back."""
        if event not in SERVER_EVENTS:
            raise ValueError(f"{event!r} is not an event the server sends; one of "
                             f"{', '.join(SERVER_EVENTS)}")
        if handler is not None and not callable(handler):
            raise TypeError(f"a handler is a function (person, data), got {handler!r}")
        if handler is None:
            self.handlers.pop(event, None)
        else:
            self.handlers[event] = handler
        for person in self.people.values():
            person.on(event, handler)

    async def join(self, name: str, room: str, *, voice: bool, tone_hz: float | None,
                   stream: MediaStream | None, nat: str | Nat | None, relay_only: bool,
                   ice_servers: Any, trickle: bool) -> Person:
        """getUserMedia, a person on the lab's servers, ``joinRoom``, and ``joinVoice`` with
        ``voice`` (the seed's Steps 1 and 2). The same name with the same settings is the same
        person (a re-run cell is harmless); other settings: they hang up and join again."""
        wanted = {"room": room, "nat": nat if isinstance(nat, Nat) else (nat or "none"),
                  "tone_hz": tone_hz, "stream": stream, "relay_only": relay_only,
                  "ice_servers": ice_servers, "trickle": trickle}
        existing = self.people.get(name)
        if existing is not None:
            changed = join_differences(existing, wanted)
            if not changed:
                if voice:
                    await existing.join_voice()
                return existing
            await existing.close(because=f"rejoined with new settings ({', '.join(changed)})")
            self.people.pop(name, None)
            self.events.publish("person-rejoined", person=name, changed=changed)
        self.servers.refuse(nat=nat, ice_servers=ice_servers)
        if stream is None:
            tone = tone_hz if tone_hz is not None else self.servers.tone(
                name, (p.tone_hz for p in self.people.values()))
            stream = await get_user_media(audio=True, tone_hz=tone)
        self.events.publish("got-media", person=name,  # Step 1: getUserMedia
                            tone_hz=getattr(stream.audio, "tone_hz", None))
        person = await self.servers.person(name, stream, nat=nat, relay_only=relay_only,
                                           ice_servers=ice_servers, trickle=trickle,
                                           events=self.events, settings=self.settings)
        person.join_options = wanted
        for event, handler in self.handlers.items():
            person.on(event, handler)
        self.people[name] = person
        token = _aiortc.SETTINGS.set(self.settings)  # inherited by the person's tasks
        try:
            await person.connect(self.servers.url)
            await person.join_room(room)
            if voice:
                await person.join_voice()
        except BaseException:
            self.people.pop(name, None)
            await person.close()
            raise
        finally:
            _aiortc.SETTINGS.reset(token)
        return person

    async def wait_connected(self, timeout: float) -> None:
        """Until every person in voice has an audio-carrying call with every other; at once
        when a call has failed and every other is connected or failed too (the room cannot
        get there). Either way, and on timeout, the :class:`TimeoutError` names each call that
        did not connect and what would fix it."""
        people = list(self.people.values())

        def done() -> bool:
            return not calls_missing(people, self.people.values())

        def hopeless() -> bool:
            ends = [state for _, _, state in calls_missing(people, self.people.values())]
            return bool(ends) and all(end in ("failed", "closed") for end in ends)

        try:
            await within(self.events.until(lambda: done() or hopeless()), timeout)
        except TimeoutError:
            raise TimeoutError(self._why_not(f"within {timeout} s")) from None
        if not done():
            refused = any(getattr(link, "failure", None) for p in people
                          for link in p.links.values())
            raise TimeoutError(self._why_not("(a call was refused)" if refused else
                                             "(ICE gave up)"))

    def _why_not(self, when: str) -> str:
        stun, turn = self.servers.offered(self.people.values())
        people = list(self.people.values())
        missing = [(p, sid, None if sid not in p.links else state)
                   for p, sid, state in sorted(calls_missing(people, people),
                                               key=lambda m: (m[0].name, m[1]))]
        return why_not_connected(people, missing, when, stun=stun, turn=turn,
                                 remote=self.servers.remote)

    def graph(self) -> nx.Graph:
        return room_graph(self.people.values())

