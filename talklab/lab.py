"""The lab: one object that starts the servers, adds people, and tells what is happening.

    async with talklab.Lab() as lab:
        alice = await lab.join("Alice", room="ABCD12", voice=True)
        bob = await lab.join("Bob", room="ABCD12", voice=True)
        await lab.wait_connected()
        bob.hears()          # {"Alice": 440.0}
        lab.graph()          # the mesh, as a networkx graph

``Lab(topology="sfu")`` or ``Lab(topology="mcu")`` puts the same people in a room on the lab's
own Janus instead, a server that forwards or mixes their voices (:mod:`talklab.topology`); there
the voice signaling goes to Janus's own API, not through the seed's events.

In a notebook, ``lab = await talklab.Lab()`` closes the lab the previous ``await Lab()`` made
(re-running that cell replaces the old lab), so no server, port or peer is ever left behind;
``await lab.close()`` at the end of a notebook closes the last. A lab used as ``async with``
lives exactly as long as its block and replaces nothing.

While a lab runs, talklab's adjustments to aioice apply to its people
(:mod:`talklab._aiortc`), with this lab's own settings.
"""

from __future__ import annotations

import asyncio
import secrets
import zlib
from collections.abc import Callable, Generator
from typing import Any, ClassVar

import networkx as nx
from aiortc import RTCIceServer

from . import _aiortc
from .classroom.remote import RemoteServer, refuse_local_options
from .diagnose import why_not_connected
from .events import Event, EventBus
from .labnet import CONFIG_TTL, LabNetwork
from .media import MediaStream, get_user_media
from .mesh import calls_missing, room_graph
from .nat import Host, Nat
from .notebook import Sentence, made_by, note_made, on_interrupt
from .person import Person, join_differences
from .roomview import SERVER_EVENTS
from .server import DEFAULT_VOICE_CAP, SignalingServer
from .stun import StunServer
from .topology import ServerRooms, topology_of, wait_everyone_hears
from .turn import PeerPolicy, TurnServer

DEFAULT_ROOM = "ABCD12"  # the seed's room
PEOPLE_TTL_QUOTA = 20  # allocations per TURN username: a person has one per call
# One tone per person, 110 Hz apart: easy to tell apart by ear and by FFT.
TONES = (440.0, 550.0, 660.0, 770.0, 880.0, 990.0, 1100.0, 1210.0, 1320.0, 1430.0)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


class LabClosed(Sentence, RuntimeError):
    """This lab was closed, or replaced by a newer one: its people have hung up."""


class Lab(LabNetwork):
    """A signaling server on a free loopback port, and the people you add to it.

    ``stun`` and ``turn`` start the lab's own STUN and TURN servers (on loopback; talklab never
    contacts a public one). ``redis`` (a ``redis://`` URL) keeps the server's rooms in Redis.
    ``check_retries`` and ``nomination`` tune aioice while the lab runs (see
    :class:`talklab._aiortc.Settings`). ``topology`` is ``"mesh"`` (the seed's full mesh),
    ``"sfu"`` or ``"mcu"`` (a room on the lab's own Janus: see :mod:`talklab.topology`).

    ``server`` (a teacher's ``http://IP:PORT``) starts no server: the lab's people join the
    teacher's class, with the teacher's ICE servers, on this machine's real network
    (:mod:`talklab.classroom.remote`); ``networks`` (CIDR strings) limits whom they check.
    """

    current: ClassVar[Lab | None] = None

    def __init__(self, *, voice_cap: int = DEFAULT_VOICE_CAP, host: str = "127.0.0.1",
                 stun: bool = False, turn: bool = False,
                 check_retries: int = _aiortc.DEFAULT_CHECK_RETRIES, nomination: str = "best",
                 redis: str | None = None, topology: str = "mesh",
                 server: str | None = None, networks: list[str] | None = None) -> None:
        if isinstance(voice_cap, bool) or not isinstance(voice_cap, int) or voice_cap < 1:
            raise ValueError(f"voice_cap must be a whole number of seats, at least 1, "
                             f"got {voice_cap!r}")
        if redis is not None and not (isinstance(redis, str) and redis.startswith(
                ("redis://", "rediss://", "unix://"))):
            raise ValueError(f"redis must be a redis:// URL, got {redis!r}")
        self.remote: RemoteServer | None = None
        if server is not None:  # a student's lab: the teacher's servers, the real network
            refuse_local_options(stun=stun, turn=turn, redis=redis, topology=topology)
            self.remote = RemoteServer.of(server, networks)
        elif networks is not None:
            raise ValueError("networks= is for a lab joined to a teacher's server (server=)")
        self.topology = topology_of(topology)
        self.settings = _aiortc.Settings(check_retries=check_retries, nomination=nomination)
        self.events = EventBus()
        self.voice_cap, self.host, self.redis = voice_cap, host, redis
        self.stun = StunServer() if _flag("stun", stun) else None
        # The lab's TURN server hands out time-limited credentials only (the REST-API scheme
        # coturn uses with use-auth-secret; the secret never leaves the lab), and relays only
        # between the lab's own hosts and relays: not to any other port on this machine.
        self._turn_secret = secrets.token_urlsafe(24)
        self.config_ttl = CONFIG_TTL  # s: credentials in /config (the browser page) live this long
        self.turn = TurnServer(users={}, secret=self._turn_secret, quota=PEOPLE_TTL_QUOTA,
                               policy=PeerPolicy(allow_loopback=True, only=self._lab_peer)) \
            if _flag("turn", turn) else None
        self.server: SignalingServer | None = None
        self.people: dict[str, Person] = {}  # (in an SFU/MCU lab: talklab.janus people)
        self.rooms = ServerRooms(self) if self.topology != "mesh" else None
        self.nats: list[Nat] = []
        self.handlers: dict[str, Callable[..., Any]] = {}  # see on()
        self._started = False
        self._closed: str | None = None  # why it was closed, once it has run
        self._entered = False
        # in a notebook: the cells that made it, closed it and added its first person (the
        # course names them when a cell meets this lab closed or empty: talklab.check.ready)
        self.made_by = made_by()
        for server, wanted in (("stun", stun), ("turn", turn)):
            if wanted is True:
                note_made(f"Lab with {server}", self.made_by)
        self.closed_by: str | None = None
        self.first_people: str | None = None
        self._quiet_interrupt: Callable[[], None] | None = None
        self.events.subscribe(self._forget_closed)

    def _forget_closed(self, event: Event) -> None:
        """A person who hung up is no longer part of the lab."""
        if event.kind in ("closed", "janus-left"):
            person = self.people.get(event["person"])
            if person is not None and person.closed:
                del self.people[event["person"]]

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, replace: bool = False) -> Lab:
        """Start the servers. With ``replace``, first close the lab that the last
        replacing start made (what ``await Lab()`` does, so re-running a cell is safe)."""
        if self._started:
            return self
        previous = Lab.current
        if replace and previous is not None and previous is not self:
            await previous.close(because="their lab was replaced by a newer one")
            self.first_people = self.first_people or previous.first_people
        if self.rooms is not None:
            self.rooms.check_available()  # before anything starts: JanusUnavailable
        _aiortc.enter()
        self._entered = True
        try:
            if self.remote is not None:
                await self.remote.config()  # (reachable? its voice cap)
                self.voice_cap = self.remote.voice_cap or self.voice_cap
            elif self.stun is not None:
                await self.stun.start()
            if self.turn is not None:
                await self.turn.start()
            if self.remote is None:
                self.server = SignalingServer(self.host, 0, voice_cap=self.voice_cap,
                                              redis_url=self.redis,
                                              ice_servers=self._ice_config)
                await self.server.start()
            if self.rooms is not None:
                await self.rooms.start()
        except BaseException:
            await self.close()
            raise
        self._started = True
        if replace:
            Lab.current = self
        self._quiet_interrupt = on_interrupt(self._interrupted)
        self.events.publish("lab-started", url=self.url)
        return self

    def _interrupted(self) -> str:
        """What Interrupt Kernel says of this lab (see :func:`talklab.notebook.on_interrupt`)."""
        if not self._started:
            return ""
        voice = sum(1 for p in self.people.values() if p.in_voice)
        return (f"The lab is still running, with {len(self.people)} "
                f"{'person' if len(self.people) == 1 else 'people'} ({voice} in voice).")

    async def close(self, because: str = "their lab was closed") -> None:
        """Close every person, then the servers. Safe to call twice."""
        if self._started:
            self.closed_by = made_by()
            self.events.publish("lab-closing")  # views keep the room as it was, before it ends
        people, self.people = list(self.people.values()), {}
        await asyncio.gather(*(p.close(because) for p in people), return_exceptions=True)
        for service in (self.rooms, self.server, self.stun, self.turn):
            if service is not None:
                await service.close()
        for nat in self.nats:
            nat.close()
        self.nats.clear()
        if self._entered:
            self._entered = False
            _aiortc.leave()
        if self._started:
            self.events.publish("lab-closed")
            self._closed = because
        self._started = False
        if self._quiet_interrupt is not None:
            self._quiet_interrupt()
            self._quiet_interrupt = None
        if Lab.current is self:
            Lab.current = None

    async def __aenter__(self) -> Lab:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __await__(self) -> Generator[Any, None, Lab]:
        """``lab = await Lab()`` starts it, replacing the lab the last ``await Lab()`` made."""
        return self.start(replace=True).__await__()

    @property
    def running(self) -> bool:
        return self._started

    @property
    def closed_because(self) -> str | None:
        """Why the lab was closed ("their lab was replaced by a newer one"...), once it was."""
        return self._closed

    # -- what the lab offers ---------------------------------------------------------------------
    def _server(self) -> SignalingServer:
        if self.remote is not None:
            raise RuntimeError("this lab joined a teacher's server: its trace and token are "
                               "the teacher's (the teacher's Classroom, or its /trace)")
        if self.server is None:
            raise RuntimeError("the lab is not running: `lab = await talklab.Lab()` starts one")
        return self.server

    @property
    def url(self) -> str:
        if self.remote is not None:
            return self.remote.url
        return self._server().url

    @property
    def janus(self) -> Any:
        """The lab's :class:`talklab.janus.Janus` (an SFU or MCU lab, once started), or None."""
        return self.rooms.janus if self.rooms is not None else None

    @property
    def trace(self) -> Any:
        """The signaling server's log of every event in and out (:class:`talklab.server.Trace`)."""
        return self._server().trace

    @property
    def trace_token(self) -> str:
        """The signaling server's token: ``GET {lab.url}/trace?token=...`` needs it (the trace
        names every room and person). ``lab.trace``, the views and ``story()`` need none."""
        return self._server().token

    def page_url(self, room: str = DEFAULT_ROOM, name: str | None = None,
                 voice: bool = False) -> str:
        """A link to the seed's browser page, straight into ``room`` (and voice) as ``name``."""
        from urllib.parse import urlencode
        query = {"room": room, **({"name": name} if name else {}),
                 **({"join": "voice"} if voice else {})}
        return f"{self.url}/?{urlencode(query)}"

    def page(self, room: str = DEFAULT_ROOM, name: str | None = None, voice: bool = False,
             height: int = 420) -> Any:
        """The browser page for this lab, in a notebook (an IFrame). Works where your browser
        can reach the kernel's loopback (a local Jupyter); see the README for Binder."""
        from IPython.display import IFrame
        return IFrame(self.page_url(room, name, voice), width="100%", height=height)

    def on(self, event: str, handler: Callable[[Person, dict], Any] | None) -> None:
        """Every person of this lab, those here and those who join later, handles ``event``
        with ``handler(person, data)`` instead of talklab's (:meth:`Person.on`): a room whose
        browsers all run *your* handler. ``None`` puts talklab's back."""
        if self.rooms is not None:
            raise ValueError(f"lab.on() gives handlers for the seed's events, which the people "
                             f"of an {self.topology.upper()} room never receive: their "
                             "signaling goes to Janus's own API")
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

    # -- people -----------------------------------------------------------------------------------
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
        loopback ones: talklab never contacts a public server).

        Joining again with the same name and the same settings returns the same person (so a
        re-run notebook cell is harmless); with different settings (another NAT, room, tone...)
        the person hangs up and joins again with the new ones.

        In an SFU or MCU lab the person joins the Janus room ``room`` (with ``voice=True``;
        ``nat``, ``relay_only``, ``ice_servers`` and ``trickle`` are the mesh's), signaling
        through Janus's API, and is a :class:`talklab.janus.room.Person`.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a person needs a name, got {name!r}")
        if not self._started:
            if self._closed is not None:
                again = f"the cell with {self.made_by}" if self.made_by else \
                    "the cell that makes the lab (`lab = await talklab.Lab()`)"
                raise LabClosed(
                    "this lab was replaced by a newer one (each `lab = await talklab.Lab()` "
                    "closes the last): use the new lab" if "replaced" in self._closed else
                    f"this lab is closed: run {again} again, and the cells after it")
            await self.start()
        if self.rooms is not None:
            return await self.rooms.join(  # type: ignore[return-value]
                name, room, voice=voice, tone_hz=tone_hz, stream=stream, nat=nat,
                relay_only=relay_only, ice_servers=ice_servers, trickle=trickle)
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
        if stream is None:
            tone = tone_hz if tone_hz is not None else self._free_tone(name)
            stream = await get_user_media(audio=True, tone_hz=tone)
        self.events.publish("got-media", person=name,  # Step 1: getUserMedia
                            tone_hz=getattr(stream.audio, "tone_hz", None))
        if self.remote is not None:  # a student: this machine's address, the teacher's servers
            refuse_local_options(nat=nat, ice_servers=ice_servers)
            person = await self.remote.person(name, stream, relay_only=relay_only,
                                              trickle=trickle, events=self.events,
                                              settings=self.settings)
        else:
            if isinstance(nat, str) and nat != "none":
                nat = self.nat(nat)
            host = nat.host() if isinstance(nat, Nat) else Host()
            blocked = isinstance(nat, Nat) and nat.blocks_udp
            servers = self.ice_servers(tcp=blocked, name=name) if ice_servers is None else \
                ice_servers
            person = Person(name, stream, host=host, ice_servers=servers,
                            relay_only=relay_only, trickle=trickle, events=self.events,
                            settings=self.settings)
        person.join_options = wanted
        person.made_by = made_by()
        note_made(f"person {name}", person.made_by)
        if not self.first_people:
            self.first_people = person.made_by
            note_made("first people of Lab", person.made_by)
        for event, handler in self.handlers.items():
            person.on(event, handler)
        self.people[name] = person
        token = _aiortc.SETTINGS.set(self.settings)  # inherited by the person's tasks
        try:
            await person.connect(self.url)
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

    def _free_tone(self, name: str = "") -> float:
        if self.remote is not None:  # (classmates' kernels choose too: by name, the same each)
            return TONES[zlib.crc32(name.encode()) % len(TONES)]
        used = {p.tone_hz for p in self.people.values()}
        return next((t for t in TONES if t not in used), TONES[len(self.people) % len(TONES)])

    async def wait_connected(self, timeout: float = 10) -> None:
        """Wait until every person in voice has a working, audio-carrying link to every other.

        When a link has failed (ICE gave up) and every other is connected or failed too, the
        room cannot get there: this says so at once. Either way, and on timeout, the
        :class:`TimeoutError` names each link that did not connect and what would fix it.
        (SFU, MCU: every stream up to Janus and down from it.)"""
        if self.rooms is not None:
            return await self.rooms.wait_connected(timeout)
        people = list(self.people.values())

        def done() -> bool:
            return not calls_missing(people, self.people.values())

        def hopeless() -> bool:
            ends = [state for _, _, state in calls_missing(people, self.people.values())]
            return bool(ends) and all(end in ("failed", "closed") for end in ends)

        try:
            await asyncio.wait_for(self._until(lambda: done() or hopeless()), timeout)
        except TimeoutError:
            raise TimeoutError(self._why_not(f"within {timeout} s")) from None
        if not done():
            raise TimeoutError(self._why_not("(ICE gave up)"))

    def _why_not(self, when: str) -> str:
        if self.remote is not None:  # (the teacher's servers: what /config handed out)
            stun, turn = self.remote.offered(self.people.values())
        else:
            stun, turn = self.stun is not None, self.turn is not None
        return why_not_connected(self.people.values(), when, stun=stun, turn=turn,
                                 remote=self.remote is not None)

    async def wait_heard(self, seconds: float = 1.0,
                         timeout: float = 10) -> dict[str, dict[str, float]]:
        """Wait until everyone in voice hears everyone else in their room at their own tone
        (over the last ``seconds``; in an MCU, found in the mix); returns who hears whom."""
        return await wait_everyone_hears(self, seconds, timeout)

    async def _until(self, condition: Any) -> None:
        changed = asyncio.Event()
        unsubscribe = self.events.subscribe(lambda _: changed.set())
        try:
            while not condition():
                changed.clear()
                await changed.wait()
        finally:
            unsubscribe()

    # -- the room as a graph ------------------------------------------------------------------
    def graph(self) -> nx.Graph:
        """The room as a graph, from what the lab's people know (see :mod:`talklab.mesh`):
        nodes are people (``in_room``, ``in_voice``, ``room``, ``kind``...), edges are calls
        (``state``, ``route``). An edge is ``connected`` only when both sides heard each other.
        In an SFU or MCU lab: a ``MultiDiGraph`` with Janus as a node too, and an edge per
        stream, from sender to receiver (:meth:`talklab.topology.ServerRooms.graph`).
        """
        if self.rooms is not None:
            return self.rooms.graph()
        return room_graph(self.people.values())

    def __repr__(self) -> str:
        state = self.url if self._started else "not started"
        kind = "" if self.topology == "mesh" else f" {self.topology.upper()}"
        return f"<Lab{kind} {state}, {len(self.people)} people>"

