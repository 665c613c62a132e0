"""The lab: one object that starts the servers, adds people, and tells what is happening.

    async with talklab.Lab() as lab:
        alice = await lab.join("Alice", room="ABCD12", voice=True)
        bob = await lab.join("Bob", room="ABCD12", voice=True)
        await lab.wait_connected()
        bob.hears()          # {"Alice": 440.0}
        lab.graph()          # the mesh, as a networkx graph

A lab is made of two things (:mod:`talklab.lab.kinds`), chosen once, when it is made:

* where its people find the seed's servers: its own, on loopback
  (:class:`talklab.lab.servers.LocalServers`: a signaling server, STUN and TURN when asked for, its
  NATs), or a teacher's class, ``Lab(server="http://IP:PORT")``
  (:class:`talklab.lab.student.RemoteServer`);
* how its rooms carry voices: the seed's full mesh (:class:`talklab.lab.mesh.MeshRooms`), or
  ``Lab(topology="sfu")`` / ``"mcu"``, rooms on the lab's own Janus that forward or mix the
  voices (:class:`talklab.lab.janus_rooms.JanusRooms`), where the voice signaling goes to Janus's
  own API, not through the seed's events.

In a notebook, ``lab = await talklab.Lab()`` closes the lab the previous ``await Lab()`` made
(re-running that cell replaces the old lab), so no server, port or peer is ever left behind;
``await lab.close()`` at the end of a notebook closes the last. A lab used as ``async with``
lives exactly as long as its block and replaces nothing.

While a lab runs, talklab's adjustments to aioice apply to its people
(:mod:`talklab._aiortc`), with this lab's own settings.

Tested in tests/test_mesh.py (a lab starts its servers, adds people and waits for their calls; a new
lab replaces the previous one, one in an ``async with`` block replaces nothing),
tests/test_lab_room.py (its graph, drawn from its people whatever the server, and after the server
has gone) and tests/test_clear_errors.py (the settings it refuses, and a replaced lab).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, ClassVar

import networkx as nx
from aiortc import RTCIceServer

from talklab import _aiortc
from talklab.browser.media import MediaStream
from talklab.browser.person import Person
from talklab.events import EventBus
from talklab.lab.janus_rooms import JanusRooms, topology_of, wait_everyone_hears
from talklab.lab.kinds import Rooms, Servers
from talklab.lab.mesh import MeshRooms
from talklab.lab.servers import LocalServers
from talklab.lab.student import RemoteServer, refuse_local_options
from talklab.media_plane.capture import CaptureFiles
from talklab.nat import Nat
from talklab.notebook import Sentence, made_by, note_made, on_interrupt
from talklab.server import DEFAULT_VOICE_CAP

DEFAULT_ROOM = "ABCD12"  # the seed's room


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


class LabClosed(Sentence, RuntimeError):
    """This lab was closed, or replaced by a newer one: its people have hung up."""


class Lab:
    """A signaling server on a free loopback port, and the people you add to it.

    ``stun`` and ``turn`` start the lab's own STUN and TURN servers (on loopback; talklab never
    contacts a public one). ``redis`` (a ``redis://`` URL) keeps the server's rooms in Redis.
    ``check_retries`` and ``nomination`` tune aioice while the lab runs (see
    :class:`talklab._aiortc.Settings`). ``topology`` is ``"mesh"`` (the seed's full mesh),
    ``"sfu"`` or ``"mcu"`` (a room on the lab's own Janus: see :mod:`talklab.lab.janus_rooms`).

    ``server`` (a teacher's ``http://IP:PORT``) starts no server: the lab's people join the
    teacher's class, with the teacher's ICE servers, on this machine's real network
    (:mod:`talklab.lab.student`); ``networks`` (CIDR strings) limits whom they check.
    """

    current: ClassVar[Lab | None] = None

    def __init__(self, *, voice_cap: int = DEFAULT_VOICE_CAP, host: str = "127.0.0.1",
                 stun: bool = False, turn: bool = False,
                 check_retries: int = _aiortc.DEFAULT_CHECK_RETRIES, nomination: str = "best",
                 redis: str | None = None, topology: str = "mesh",
                 server: str | None = None, networks: list[str] | None = None,
                 speaks_on_interrupt: bool = True) -> None:
        if isinstance(voice_cap, bool) or not isinstance(voice_cap, int) or voice_cap < 1:
            raise ValueError(f"voice_cap must be a whole number of seats, at least 1, "
                             f"got {voice_cap!r}")
        if redis is not None and not (isinstance(redis, str) and redis.startswith(
                ("redis://", "rediss://", "unix://"))):
            raise ValueError(f"redis must be a redis:// URL, got {redis!r}")
        topology_of(topology)
        self.settings = _aiortc.Settings(check_retries=check_retries, nomination=nomination)
        self.events = EventBus()
        self._voice_cap = voice_cap
        self.servers: Servers
        if server is not None:  # a student's lab: the teacher's servers, the real network
            refuse_local_options(stun=stun, turn=turn, redis=redis, topology=topology)
            self.servers = RemoteServer.of(server, networks)
        elif networks is not None:
            raise ValueError("networks= is for a lab joined to a teacher's server (server=)")
        else:
            self.servers = LocalServers(
                host=host, voice_cap=voice_cap, stun=_flag("stun", stun),
                turn=_flag("turn", turn), redis=redis,
                hosts=lambda: [p.address for p in self.people.values()])
        self.rooms: Rooms = MeshRooms(self.servers, self.events, self.settings) \
            if topology == "mesh" else \
            JanusRooms(topology, self.events, self.settings, tone=self.servers.tone)
        self._started = False
        self._closed: str | None = None  # why it was closed, once it has run
        self._entered = False
        # in a notebook: the cells that made it, closed it and added its first person (the
        # course names them when a cell meets this lab closed or empty: talklab.check.ready)
        self.made_by = made_by()
        for name, wanted in (("stun", stun), ("turn", turn)):
            if wanted is not None:  # (a lab asked for, or asked without, that server)
                note_made(f"Lab {'with' if wanted else 'without'} {name}", self.made_by)
        self.closed_by: str | None = None
        self.first_people: str | None = None
        self._quiet_interrupt: Callable[[], None] | None = None
        self._speaks_on_interrupt = speaks_on_interrupt
        self._captures: list[CaptureFiles] = []  # open captures (lab.capture), closed with it

    # -- what it is made of ----------------------------------------------------------------------
    @property
    def people(self) -> dict[str, Any]:
        """``{name: person}``: everyone the lab has added and who has not hung up."""
        return self.rooms.people

    @property
    def topology(self) -> str:
        return self.rooms.topology

    @property
    def janus(self) -> Any:
        """The lab's :class:`talklab.janus.Janus` (an SFU or MCU lab, once started), or None."""
        return self.rooms.janus

    @property
    def voice_cap(self) -> int:
        """Seats in a room's voice channel: the lab's, or the teacher's server's."""
        return self.servers.voice_cap or self._voice_cap

    @property
    def server(self) -> Any:
        """The lab's own signaling server (None before it starts, and in a student's lab)."""
        return self.servers.server

    @property
    def stun(self) -> Any:
        """The lab's own STUN server, when it runs one."""
        return self.servers.stun

    @property
    def turn(self) -> Any:
        """The lab's own TURN server, when it runs one."""
        return self.servers.turn

    def _local(self, what: str) -> LocalServers:
        if not isinstance(self.servers, LocalServers):
            raise RuntimeError(f"this lab joined a teacher's server: {what} belongs to a local "
                               "lab (the class's servers are the teacher's)")
        return self.servers

    @property
    def nats(self) -> list[Nat]:
        return self._local("its NATs").nats

    @property
    def config_ttl(self) -> int:
        return self._local("/config").config_ttl

    @config_ttl.setter
    def config_ttl(self, seconds: int) -> None:
        self._local("/config").config_ttl = seconds

    def nat(self, kind: str, **conditions: float) -> Nat:
        """A NAT box of ``kind`` for people of this lab (see
        :meth:`talklab.lab.servers.LocalServers.nat`)."""
        return self._local("a simulated NAT").nat(kind, **conditions)

    def ice_servers(self, tcp: bool = False, name: str = "person", **options: Any
                    ) -> list[RTCIceServer]:
        """The lab's own STUN/TURN servers, as a person (or the browser page) uses them."""
        return self._local("its ICE servers").ice_servers(tcp, name, **options)

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
        self.rooms.check()  # before anything starts (JanusUnavailable)
        _aiortc.enter()
        self._entered = True
        try:
            await self.servers.start()
            await self.rooms.start()
        except BaseException:
            await self.close()
            raise
        self._started = True
        if replace:
            Lab.current = self
        if self._speaks_on_interrupt:  # (else its owner, a classroom, speaks for it)
            self._quiet_interrupt = on_interrupt(self._interrupted)
        self.events.publish("lab-started", url=self.url)
        return self

    def _interrupted(self) -> str:
        """What Interrupt Kernel says of this lab (see :func:`talklab.notebook.on_interrupt`)."""
        if not self._started:
            return ""
        voice = sum(1 for p in self.people.values() if p.in_voice)
        remake = f"the cell with {self.made_by}" if self.made_by else \
            "the cell that makes it (`lab = await talklab.Lab(...)`)"
        return (f"The lab is still running, with {len(self.people)} "
                f"{'person' if len(self.people) == 1 else 'people'} ({voice} in voice). Run "
                "this cell again before the next (it did not finish: what it was making may be "
                f"missing); if the lab seems stuck, run {remake} again.")

    async def close(self, because: str = "their lab was closed") -> None:
        """Close every person, then the servers. Safe to call twice."""
        if self._started:
            self.closed_by = made_by()
            self.events.publish("lab-closing")  # views keep the room as it was, before it ends
        for files in list(self._captures):
            files.close()
        await self.rooms.close(because)
        await self.servers.close()
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
    def _server(self) -> Any:
        if self.servers.remote:
            raise RuntimeError("this lab joined a teacher's server: its trace and token are "
                               "the teacher's (the teacher's Classroom, or its /trace)")
        if self.server is None:
            raise RuntimeError("the lab is not running: `lab = await talklab.Lab()` starts one")
        return self.server

    @property
    def url(self) -> str:
        return self.servers.url

    @property
    def trace(self) -> Any:
        """The signaling server's log of every event in and out (:class:`talklab.server.Trace`)."""
        return self._server().trace

    @property
    def trace_token(self) -> str:
        """The signaling server's token: ``GET {lab.url}/trace?token=...`` needs it (the trace
        names every room and person). ``lab.trace``, the views and ``story()`` need none."""
        token: str = self._server().token
        return token

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
        self.rooms.on(event, handler)

    @property
    def handlers(self) -> dict[str, Callable[..., Any]]:
        """The seed's events this lab's people handle with a function of yours (:meth:`on`)."""
        return getattr(self.rooms, "handlers", {})

    # -- people -----------------------------------------------------------------------------------
    async def join(self, name: str, room: str = DEFAULT_ROOM, *, voice: bool = False,
                   tone_hz: float | None = None, stream: MediaStream | None = None,
                   nat: str | Nat | None = None, relay_only: bool = False,
                   ice_servers: list[RTCIceServer] | None = None,
                   trickle: bool = True) -> Any:
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
        person = await self.rooms.join(name, room, voice=voice, tone_hz=tone_hz, stream=stream,
                                       nat=nat, relay_only=relay_only,
                                       ice_servers=ice_servers, trickle=trickle)
        if getattr(person, "made_by", None) is None:  # (not one who was here already)
            person.made_by = made_by()
            note_made(f"person {name}", person.made_by)
            if not self.first_people:
                self.first_people = person.made_by
                note_made("first people of Lab", person.made_by)
        return person

    async def wait_connected(self, timeout: float = 10) -> None:
        """Wait until every person in voice has a working, audio-carrying link to every other.

        When a link has failed (ICE gave up) and every other is connected or failed too, the
        room cannot get there: this says so at once. Either way, and on timeout, the
        :class:`TimeoutError` names each link that did not connect and what would fix it.
        (SFU, MCU: every stream up to Janus and down from it.)"""
        await self.rooms.wait_connected(timeout)

    async def wait_heard(self, seconds: float = 1.0,
                         timeout: float = 10) -> dict[str, dict[str, float]]:
        """Wait until everyone in voice hears everyone else in their room at their own tone
        (over the last ``seconds``; in an MCU, found in the mix); returns who hears whom."""
        return await wait_everyone_hears(lambda: self.people.values(), self.events, seconds,
                                         timeout)

    # -- the packets of a call --------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def capture(self, path: str | os.PathLike[str] = "call.pcapng",
                      of: str | None = None) -> AsyncIterator[CaptureFiles]:
        """``async with lab.capture("call.pcapng"):`` records what one person's machine sends
        and receives while the block runs (by default the first person's), as Wireshark on
        it would: ``call.pcapng`` holds the datagrams on the wire (STUN, DTLS, SRTP, SRTCP)
        with the DTLS key log inside, ``call.rtp.pcapng`` the same calls' RTP and RTCP in the
        clear (see :mod:`talklab.media_plane.capture`). Written as it goes; closed at the end
        of the block, or when the lab closes."""
        people = self.people
        if of is None:
            if not people:
                raise ValueError("a capture listens on a person's machine: join someone first "
                                 "(`await lab.join(...)`), then capture")
            of = next(iter(people))
        if of not in people:
            raise ValueError(f"there is nobody called {of!r} in this lab (people: "
                             f"{', '.join(people) or 'none'})")
        files = CaptureFiles(people[of].host, path, of)
        self._captures.append(files)
        try:
            yield files
        finally:
            files.close()
            self._captures.remove(files)

    # -- the room as a graph ------------------------------------------------------------------
    def graph(self) -> nx.Graph:
        """The room as a graph, from what the lab's people know (see :mod:`talklab.lab.mesh`):
        nodes are people (``in_room``, ``in_voice``, ``room``, ``kind``...), edges are calls
        (``state``, ``route``). An edge is ``connected`` only when both sides heard each other.
        In an SFU or MCU lab: a ``MultiDiGraph`` with Janus as a node too, and an edge per
        stream, from sender to receiver (:meth:`talklab.lab.janus_rooms.JanusRooms.graph`).
        """
        graph: nx.Graph = self.rooms.graph()
        return graph

    def __repr__(self) -> str:
        state = self.url if self._started else "not started"
        kind = "" if self.topology == "mesh" else f" {self.topology.upper()}"
        return f"<Lab{kind} {state}, {len(self.people)} people>"
