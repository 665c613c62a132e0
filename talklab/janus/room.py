"""What the SFU room and the MCU room share: a room on a Janus, and a person in it.

A :class:`Room` is one room of one Janus plugin, created through the lab's own handle when the
room starts and destroyed when it closes. A :class:`Person` in it is what a browser would be:
its own Janus session (one long poll, keepalives), one handle per peer connection, a voice
encoded once (:class:`~talklab.browser.encoding.OpusFanout`), and :class:`~talklab.janus.peer.
JanusLink` s. The two topologies differ only in how a person joins and what it hears
(:mod:`talklab.janus.sfu`, :mod:`talklab.janus.mcu`).

A person never holds its room. The room hands it a :class:`Seat` (which room, on which
plugin, through which client) and three callbacks: ``report`` (what happened, for the room's
event bus), ``roster`` (who is in the room now, and at which tone) and ``heard`` (has anyone
else heard this voice yet). Everything else a person knows, it learned from Janus.

While a room is open, talklab's aiortc adjustments are installed (``_aiortc.enter``), as in a
lab: that is what lets aiortc gather on a loopback address at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from talklab import _aiortc
from talklab.browser.encoding import OpusFanout
from talklab.browser.media import MediaStream, free_tone, get_user_media
from talklab.events import EventBus, until
from talklab.janus.client import Handle, JanusClient, Session
from talklab.janus.peer import JanusLink, LinkCounters
from talklab.janus.server import Janus

PITCH_TOLERANCE = 0.5  # Hz: a tone heard through Opus is measured to about 0.01 Hz


JANUS = "Janus"  # the server's name, as a node of a drawing


@dataclass(frozen=True)
class Edge:
    """One RTP stream, for a drawing: from ``source`` to ``target`` (a person's name or
    :data:`JANUS`), carrying ``voice`` (a person's name, or ``"mix"``)."""

    source: str
    target: str
    voice: str
    kind: str  # the link's: "publish", "subscribe" or "mix"
    state: str  # the link's state


@dataclass(frozen=True)
class Seat:
    """Where a person sits: room ``id`` on ``plugin`` (the lab calls it ``name``), reached
    through ``client`` (a person makes its own session on it), with the lab's aiortc
    ``settings``."""

    id: int
    name: str
    plugin: str
    client: JanusClient
    settings: _aiortc.Settings


Report = Callable[..., None]  # report(kind, **data): one event for the room's bus
Roster = Callable[[], dict[str, float | None]]  # {name: tone in Hz, or None}: who is in the room
Heard = Callable[[str], bool]  # heard(name): someone else has received name's voice


@dataclass(frozen=True)
class Streams:
    """Streams a person uploads and downloads, counted from its connections' RTP stats."""

    upload: int
    download: int


class Person:
    """One person in a Janus room (see :class:`talklab.janus.sfu.SfuPerson` and
    :class:`talklab.janus.mcu.McuPerson`)."""

    def __init__(self, seat: Seat, name: str, stream: MediaStream, host: str, *,
                 report: Report, roster: Roster, heard: Heard) -> None:
        self.seat = seat
        self._report, self._roster, self._heard = report, roster, heard
        self.name = name
        self.stream = stream
        self.host = host
        self.fanout = OpusFanout(stream.audio)
        self.session: Session | None = None
        self.links: list[JanusLink] = []
        self.joined_at = time.monotonic()
        self.closed = False
        self.cleanups: list[Callable[[], None]] = []  # run once the person has left
        self._changed = asyncio.Event()

    @property
    def tone_hz(self) -> float | None:
        tone: float | None = getattr(self.stream.audio, "tone_hz", None)
        return tone

    @property
    def room(self) -> str:
        """The name of the room this person is in (as a mesh person's ``room``)."""
        return self.seat.name

    @property
    def address(self) -> str:
        """The loopback address this person's connections gather on."""
        return self.host

    @property
    def in_voice(self) -> bool:
        """In the room, with their voice, until they leave (a Janus room has no text room
        beside its voice: being in it is being in voice)."""
        return not self.closed

    # -- plumbing ----------------------------------------------------------------------------------
    def changed(self, link: JanusLink | None = None) -> None:
        """Wake :meth:`wait_until`; tell the room's event bus about a link's step."""
        self._changed.set()
        if link is not None and link.timeline:
            self._report("janus-link-step", person=self.name, link=link.label,
                         step=link.timeline[-1][1], state=link.state)

    async def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait (event-driven, bounded) until ``condition()`` holds."""
        try:
            await until(self._changed, lambda: bool(condition()), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name}: {what} did not happen within {timeout} s; "
                               f"links: {self.link_states()}") from None

    def new_link(self, kind: str, voice_of: str | None = None) -> JanusLink:
        link = JanusLink(self.name, kind, voice_of=voice_of, host=self.host,
                         on_change=self.changed)
        self.links.append(link)
        return link

    async def attach(self) -> Handle:
        assert self.session is not None
        return await self.session.attach(self.seat.plugin)

    # -- joining and leaving -----------------------------------------------------------------------
    async def join(self) -> None:  # pragma: no cover - each topology defines it
        raise NotImplementedError

    async def leave(self) -> None:
        """Hang up: close every link, stop the voice, destroy the Janus session."""
        if self.closed:
            return
        self.closed = True
        for link in list(self.links):
            await link.close()
        await self.fanout.close()
        self.stream.stop()
        if self.session is not None:
            await self.session.destroy()
        for cleanup in self.cleanups:
            cleanup()
        self._report("janus-left", person=self.name, room=self.seat.id)
        self.changed()

    async def close(self, because: str = "hung up") -> None:
        """Hang up (what a mesh person's ``close`` is): leave the room."""
        await self.leave()

    async def leave_voice(self) -> None:
        """Leave the room's voice: in a Janus room, that is leaving the room."""
        await self.leave()

    # -- what a person can tell --------------------------------------------------------------------
    def hears(self, seconds: float = 1.0) -> dict[str, float]:  # pragma: no cover
        """``{name: Hz}``: each person heard, and the pitch measured for them."""
        raise NotImplementedError

    def voice_up(self, link: JanusLink) -> str:
        """The state of this person's voice going up ``link``: ``connected`` only once it has
        carried audio, that is once Janus has said so in an RTCP receiver report (about a
        second after the connection), or someone has already heard it through Janus."""
        state = link.up_state
        if state == "connecting" and link.pc.connectionState == "connected" \
                and self._heard(self.name):
            return "connected"
        return state

    def has_heard(self, name: str) -> bool:  # pragma: no cover - each topology defines it
        """This person has received ``name``'s voice through Janus."""
        raise NotImplementedError

    def others(self) -> list[str]:
        """The names of everyone else in the room now, sorted."""
        return sorted(set(self._roster()) - {self.name})

    def tones(self) -> dict[str, float]:
        """``{name: Hz}`` of everyone in the room with a synthetic voice, this person too."""
        return {name: hz for name, hz in self._roster().items() if hz is not None}

    def expected(self) -> dict[str, str]:  # pragma: no cover - each topology defines it
        """``{stream: state}`` for every stream this person should have now."""
        raise NotImplementedError

    def missing(self) -> list[str]:
        """The streams this person should have that have not carried audio yet."""
        return [f"{label} ({state})" for label, state in self.expected().items()
                if state != "connected"]

    async def wait_connected(self, timeout: float = 10) -> None:
        """Wait until every stream this person should have has carried audio."""
        await self.wait_until(lambda: not self.missing(), timeout,
                              "every stream carrying audio")

    async def wait_heard(self, seconds: float = 1.0, timeout: float = 10) -> None:
        """Wait until this person hears everyone else in the room (see :meth:`wait_hears`)."""
        await self.wait_hears(timeout=timeout, seconds=seconds)

    def link_to(self, name: str) -> JanusLink:
        """The link that brings ``name``'s voice down (SFU), or the one named ``name``
        (``publish``, ``mix``)."""
        for link in reversed(self.links):
            if not link.closed and name in (link.voice_of, link.kind, link.label):
                return link
        known = ", ".join(link.label for link in self.links if not link.closed) or "none yet"
        raise KeyError(f"{self.name} has no link for {name} (links: {known})")

    async def stats(self) -> dict[str, dict[str, Any]]:
        """Per link (by label): packets sent, received and lost, bytes, state and route."""
        out = {}
        for link in [x for x in self.links if not x.closed]:
            c = await link.counters()
            out[link.label] = {"packets_sent": c.packets_sent,
                               "packets_received": c.packets_received,
                               "packets_lost": c.packets_lost, "bytes_sent": c.bytes_sent,
                               "bytes_received": c.bytes_received, "state": link.state,
                               "route": link.route}
        return out

    def link_states(self) -> dict[str, str]:
        """``{link label: state}``, e.g. ``{"publish": "connected", "from Bob": "connected"}``."""
        return {link.label: link.state for link in self.links if not link.closed}

    async def counters(self) -> dict[str, LinkCounters]:
        """Each open link's RTP counters, by label."""
        return {link.label: await link.counters() for link in self.links if not link.closed}

    async def streams(self) -> Streams:
        """The RTP streams this person sends and receives (those that carried packets)."""
        readings = list((await self.counters()).values())
        return Streams(sum(r.streams_up for r in readings), sum(r.streams_down for r in readings))

    def edges(self) -> list[Edge]:
        """This person's streams: its voice up to Janus, and what comes down."""
        out = []
        for link in self.links:
            if link.closed:
                continue
            if link.kind in ("publish", "mix"):
                out.append(Edge(self.name, JANUS, self.name, link.kind, self.voice_up(link)))
            if link.kind in ("subscribe", "mix"):
                out.append(Edge(JANUS, self.name, link.voice_of or "?", link.kind, link.state))
        return out

    def janus_sdps(self) -> list[str]:
        """Every SDP Janus sent this person."""
        return [sdp for link in self.links for sdp in link.janus_sdps]

    async def wait_hears(self, names: set[str] | None = None, timeout: float = 10.0,
                         seconds: float = 1.0) -> dict[str, float]:
        """Wait until this person hears everyone in ``names`` (default: everyone else in the
        room), each at their own tone (within ``PITCH_TOLERANCE``), measured over the last
        ``seconds`` of audio, and every link has brought that much audio (the proof the mesh's
        ``Person.wait_heard`` asks for); returns :meth:`hears`."""
        expected = set(names) if names is not None else set(self.others())
        deadline = time.monotonic() + timeout
        while True:
            heard = self.hears(seconds)
            if self._enough_audio(seconds) and self._hears_right(heard, expected):
                return heard
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name} hears {heard} after {timeout} s, expected "
                                   f"{sorted(expected)}; links: {self.link_states()}")
            await self._more_audio(remaining, frames=10)  # 200 ms more, from every ear

    def _enough_audio(self, seconds: float) -> bool:
        frames = int(seconds * 50)  # 20 ms frames
        return all(link.ear.frames >= frames for link in self.links
                   if link.ear is not None and not link.closed)

    def _hears_right(self, heard: dict[str, float], expected: set[str]) -> bool:
        tones = self.tones()
        return set(heard) >= expected and all(
            abs(heard[name] - tones[name]) <= PITCH_TOLERANCE for name in expected
            if name in tones)

    async def _more_audio(self, timeout: float, frames: int) -> None:
        """Wait until every open ear has ``frames`` more frames, or a link changes."""
        ears = [link.ear for link in self.links if link.ear is not None and not link.closed]
        self._changed.clear()
        waits = [asyncio.ensure_future(ear.wait_frames(ear.frames + frames, timeout))
                 for ear in ears]
        changed = asyncio.ensure_future(self._changed.wait())
        everyone = asyncio.ensure_future(asyncio.wait(waits)) if waits else None
        try:
            await asyncio.wait([changed, *([everyone] if everyone else [])], timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [changed, *waits, *([everyone] if everyone else [])]:
                task.cancel()
            await asyncio.gather(changed, *waits, return_exceptions=True)
            if everyone is not None:
                await asyncio.gather(everyone, return_exceptions=True)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.link_states()}>"


class Room:
    """One room of a Janus plugin, with the people in it."""

    plugin: ClassVar[str] = ""
    person_class: ClassVar[type[Person]] = Person

    def __init__(self, janus: Janus, *, name: str = "general", events: EventBus | None = None,
                 settings: _aiortc.Settings | None = None) -> None:
        self.janus = janus
        self.name = name  # what the lab calls this room
        self.events = events or EventBus()
        self.settings = settings or _aiortc.Settings()
        self.id: int | None = None
        self.people: dict[str, Person] = {}
        self.client: JanusClient | None = None
        self.handle: Handle | None = None  # the lab's own handle: creates and destroys the room
        self._entered = False

    def tones(self) -> dict[str, float]:
        """``{name: Hz}`` of everyone in the room with a synthetic voice."""
        return {name: p.tone_hz for name, p in self.people.items() if p.tone_hz is not None}

    # -- what the room tells its people, through the callbacks it gave them ----------------------
    def seat(self) -> Seat:
        """Where a newcomer sits (the room must have started)."""
        if self.id is None or self.client is None:
            raise RuntimeError("start the room first (await room.start())")
        return Seat(self.id, self.name, self.plugin, self.client, self.settings)

    def _report(self, kind: str, **data: Any) -> None:
        if kind == "janus-left":  # forget them (unless someone of that name has come since)
            person = self.people.get(data["person"])
            if person is not None and person.closed:
                del self.people[data["person"]]
        self.events.publish(kind, **data)

    def _roster(self) -> dict[str, float | None]:
        return {name: p.tone_hz for name, p in self.people.items()}

    def _heard(self, name: str) -> bool:
        return any(p.has_heard(name) for p in list(self.people.values()) if p.name != name)

    async def create(self, handle: Handle) -> int:  # pragma: no cover - per topology
        raise NotImplementedError

    async def start(self) -> Self:
        if self.id is not None:
            return self
        _aiortc.enter()
        self._entered = True
        try:
            self.client = self.janus.client()
            session = await self.client.create_session()
            self.handle = await session.attach(self.plugin)
            self.id = await self.create(self.handle)
        except BaseException:
            await self.close()
            raise
        self.events.publish("janus-room", room=self.id, plugin=self.plugin)
        return self

    async def join(self, name: str, *, tone_hz: float | None = None,
                   stream: MediaStream | None = None, host: str = "127.0.0.1") -> Person:
        """A new person in the room, with a synthetic voice at ``tone_hz`` (a free tone by
        default) or ``stream``; returns once Janus has answered their offer."""
        seat = self.seat()
        if name in self.people:
            raise ValueError(f"{name} is already in the room")
        if stream is None:
            stream = await get_user_media(audio=True, tone_hz=tone_hz or free_tone(
                self.tones().values()))
        person = self.person_class(seat, name, stream, host, report=self._report,
                                   roster=self._roster, heard=self._heard)
        self.people[name] = person
        token = _aiortc.SETTINGS.set(self.settings)
        try:
            await person.join()
        except BaseException:
            await person.leave()
            raise
        finally:
            _aiortc.SETTINGS.reset(token)
        self.events.publish("janus-joined", person=name, room=self.id)
        return person

    async def wait_everyone_hears(self, timeout: float = 10.0) -> float:
        """Wait until every person hears every other; returns the seconds it took."""
        started = time.monotonic()
        await asyncio.gather(*(p.wait_hears(timeout=timeout) for p in list(self.people.values())))
        return time.monotonic() - started

    async def destroy(self, handle: Handle) -> None:  # pragma: no cover - per topology
        raise NotImplementedError

    async def close(self) -> None:
        for person in list(self.people.values()):
            await person.leave()
        if self.handle is not None and self.id is not None:
            with contextlib.suppress(Exception):  # Janus may be gone already
                await self.destroy(self.handle)
        if self.client is not None:
            await self.client.close()
        self.id = self.handle = self.client = None
        if self._entered:
            self._entered = False
            _aiortc.leave()

    def edges(self) -> list[Edge]:
        """Every stream in the room (people and Janus as nodes, each stream an edge)."""
        return [edge for person in list(self.people.values()) for edge in person.edges()]

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
