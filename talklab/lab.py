"""The lab: one object that starts the servers, adds people, and tells what is happening.

    async with talklab.Lab() as lab:
        alice = await lab.join("Alice", room="ABCD12", voice=True)
        bob = await lab.join("Bob", room="ABCD12", voice=True)
        await bob.wait_connected()
        bob.hears()          # {"Alice": 440.0}
        lab.graph()          # the mesh, as a networkx graph

In a notebook, ``lab = await talklab.Lab()`` closes the lab the previous ``await Lab()`` made
(re-running that cell replaces the old lab), so no server, port or peer is ever left behind;
``await lab.close()`` at the end of a notebook closes the last. A lab used as ``async with``
lives exactly as long as its block and replaces nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import networkx as nx
from aiortc import RTCIceServer

from . import _aiortc
from .events import EventBus
from .media import MediaStream, get_user_media
from .nat import Host, Nat
from .person import Person
from .server import DEFAULT_VOICE_CAP, SignalingServer
from .stun import StunServer

DEFAULT_ROOM = "ABCD12"  # the seed's room
# One tone per person, 110 Hz apart: easy to tell apart by ear and by FFT.
TONES = (440.0, 550.0, 660.0, 770.0, 880.0, 990.0, 1100.0, 1210.0, 1320.0, 1430.0)
CHECK_RETRIES = 3  # aioice's STUN check retransmissions while a lab runs: failure in ~7.5 s


class Lab:
    """A signaling server on a free loopback port, and the people you add to it."""

    current: ClassVar[Lab | None] = None

    def __init__(self, *, voice_cap: int = DEFAULT_VOICE_CAP, host: str = "127.0.0.1",
                 stun: bool = False, turn: bool = False,
                 check_retries: int = CHECK_RETRIES) -> None:
        self.events = EventBus()
        self.server = SignalingServer(host, 0, voice_cap=voice_cap)
        self.stun = StunServer() if stun else None
        self.turn = None
        if turn:
            from .turn import TurnServer
            # everyone in the lab shares one TURN user: no per-user allocation quota to speak of
            self.turn = TurnServer(allow_loopback_peers=True, quota=10_000)
        self.people: dict[str, Person] = {}
        self.nats: list[Nat] = []
        self._started = False
        self._old_retries: int | None = None
        self.check_retries = check_retries
        self.events.subscribe(self._forget_closed)

    def _forget_closed(self, event) -> None:
        """A person who hung up is no longer part of the lab."""
        if event.kind == "closed":
            self.people.pop(event["person"], None)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, replace: bool = False) -> Lab:
        """Start the servers. With ``replace``, first close the lab that the last
        replacing start made (what ``await Lab()`` does, so re-running a cell is safe)."""
        if self._started:
            return self
        previous = Lab.current
        if replace and previous is not None and previous is not self:
            await previous.close()  # re-running a notebook cell: the old lab goes first
        await self.server.start()
        if self.stun is not None:
            await self.stun.start()
        if self.turn is not None:
            await self.turn.start()
        self.server.app.ice_servers = [
            {"urls": s.urls, **({"username": s.username, "credential": s.credential}
                                if s.username else {})} for s in self.ice_servers()]
        self._old_retries = _aiortc.set_check_retries(self.check_retries)
        self._started = True
        if replace:
            Lab.current = self
        self.events.publish("lab-started", url=self.url)
        return self

    async def close(self) -> None:
        """Close every person, then the server. Safe to call twice."""
        people, self.people = list(self.people.values()), {}
        await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
        await self.server.close()
        if self.stun is not None:
            await self.stun.close()
        if self.turn is not None:
            await self.turn.close()
        for nat in self.nats:
            nat.close()
        self.nats.clear()
        if self._old_retries is not None:
            _aiortc.set_check_retries(self._old_retries)
            self._old_retries = None
        if self._started:
            self.events.publish("lab-closed")
        self._started = False
        if Lab.current is self:
            Lab.current = None

    async def __aenter__(self) -> Lab:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __await__(self):
        """``lab = await Lab()`` starts it, replacing the lab the last ``await Lab()`` made."""
        return self.start(replace=True).__await__()

    # -- what the lab offers ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.server.url

    @property
    def trace(self):
        return self.server.trace

    def page_url(self, room: str = DEFAULT_ROOM, name: str | None = None,
                 voice: bool = False) -> str:
        """A link to the seed's browser page, straight into ``room`` (and voice) as ``name``."""
        from urllib.parse import urlencode
        query = {"room": room, **({"name": name} if name else {}),
                 **({"join": "voice"} if voice else {})}
        return f"{self.url}/?{urlencode(query)}"

    def page(self, room: str = DEFAULT_ROOM, name: str | None = None, voice: bool = False,
             height: int = 420):
        """The browser page for this lab, in a notebook (an IFrame). Works where your browser
        can reach the kernel's loopback (a local Jupyter); see the README for Binder."""
        from IPython.display import IFrame
        return IFrame(self.page_url(room, name, voice), width="100%", height=height)

    def ice_servers(self, tcp: bool = False) -> list[RTCIceServer]:
        """The lab's own STUN/TURN servers, as every person (and the browser page) uses them.
        ``tcp`` offers TURN over TCP (aiortc uses one TURN URL only)."""
        servers = []
        if self.stun is not None and self.stun.endpoints is not None:
            servers.append(RTCIceServer(urls=self.stun.url))
        if self.turn is not None and self.turn.address is not None:
            servers.append(RTCIceServer(urls=self.turn.url_tcp if tcp else self.turn.url,
                                        username=self.turn.username,
                                        credential=self.turn.password))
        return servers

    def nat(self, kind: str, **conditions: float) -> Nat:
        """A NAT box of ``kind`` (full-cone, restricted, port-restricted, symmetric, or
        udp-blocked: a firewall only TURN over TCP gets through); give the same one to several
        people (``lab.join(..., nat=box)``) to put them on one LAN.
        ``latency``, ``jitter`` (seconds) and ``loss`` (0..1) shape the path through it."""
        from .nat import Conditions
        box = Nat(kind, conditions=Conditions(**conditions))
        self.nats.append(box)
        return box

    async def join(self, name: str, room: str = DEFAULT_ROOM, *, voice: bool = False,
                   tone_hz: float | None = None, stream: MediaStream | None = None,
                   nat: str | Nat | None = None, relay_only: bool = False,
                   ice_servers: list[RTCIceServer] | None = None,
                   trickle: bool = True) -> Person:
        """Add a person: getUserMedia, connect to the signaling server, join ``room``, and with
        ``voice=True`` join voice too (which raises :class:`talklab.VoiceError` when full).

        ``nat`` puts the person behind a simulated NAT (a type name for a NAT of their own, or
        a :meth:`nat` box shared with others); ``relay_only`` makes them use TURN only.
        ``ice_servers`` replaces the lab's own STUN/TURN servers for this person (always
        loopback ones: talklab never contacts a public server)."""
        if not self._started:
            await self.start()
        existing = self.people.get(name)
        if existing is not None:  # re-running a notebook cell: the same person, not a second
            if existing.room != room:
                raise ValueError(f"{name} is already in this lab, in room {existing.room}")
            if voice:
                await existing.join_voice()
            return existing
        if stream is None:
            tone = tone_hz if tone_hz is not None else self._free_tone()
            stream = await get_user_media(audio=True, tone_hz=tone)
        if isinstance(nat, str) and nat != "none":
            nat = self.nat(nat)
        host = nat.host() if isinstance(nat, Nat) else Host()
        blocked = isinstance(nat, Nat) and nat.blocks_udp
        servers = self.ice_servers(tcp=blocked) if ice_servers is None else ice_servers
        person = Person(name, stream, host=host, ice_servers=servers,
                        relay_only=relay_only, trickle=trickle, events=self.events)
        self.people[name] = person
        try:
            await person.connect(self.url)
            await person.join_room(room)
            if voice:
                await person.join_voice()
        except BaseException:
            self.people.pop(name, None)
            await person.close()
            raise
        return person

    def _free_tone(self) -> float:
        used = {p.tone_hz for p in self.people.values()}
        return next((t for t in TONES if t not in used), TONES[len(self.people) % len(TONES)])

    async def wait_connected(self, timeout: float = 10) -> None:
        """Wait until every person in voice has a working, audio-carrying link to every other."""
        rooms = self.server.rooms
        waits = []
        for person in self.people.values():
            member = rooms.members.get(person.sid)
            if member is not None and member.in_voice:
                others = {m.sid for m in rooms.in_voice(member.room)} - {person.sid}
                waits.append(person.wait_connected(timeout, peers=others))
        await asyncio.gather(*waits)

    # -- the mesh -------------------------------------------------------------------------------
    def graph(self) -> nx.Graph:
        """The room as a graph: nodes are people (``in_room``, ``in_voice``, ``room``, ``kind``),
        edges are connections (``state``, ``route``).

        Membership comes from the signaling server, so people who joined from elsewhere (a
        browser) appear too. An edge between two lab people is ``connected`` only when both
        sides are (each has heard the other).
        """
        g = nx.Graph()
        by_sid = {p.sid: p for p in self.people.values()}
        names: dict[str, str] = {}
        for sid, member in self.server.rooms.members.items():
            name = member.username if member.username not in names.values() else \
                f"{member.username} ({sid[:4]})"
            names[sid] = name
            g.add_node(name, sid=sid, room=member.room, in_room=True, in_voice=member.in_voice,
                       kind="python" if sid in by_sid else "browser",
                       tone_hz=by_sid[sid].tone_hz if sid in by_sid else None)
        for person in self.people.values():
            if person.sid not in names and person.sid is not None:
                names[person.sid] = person.name
                g.add_node(person.name, sid=person.sid, room=None, in_room=False,
                           in_voice=False, kind="python", tone_hz=person.tone_hz)
        rank = {s: i for i, s in enumerate(("closed", "failed", "new", "disconnected",
                                             "connecting", "connected"))}
        for person in self.people.values():
            for sid, link in list(person.links.items()):
                if sid not in names or person.sid not in names:
                    continue
                a, b = names[person.sid], names[sid]
                state, route = link.state, link.route
                if g.has_edge(a, b):  # the other side's view: keep the less advanced state
                    other = g.edges[a, b]
                    if rank.get(other["state"], 0) < rank.get(state, 0):
                        state = other["state"]
                    route = other["route"] or route
                g.add_edge(a, b, state=state, route=route)
        return g

    def __repr__(self) -> str:
        state = self.url if self._started else "not started"
        return f"<Lab {state}, {len(self.people)} people>"
