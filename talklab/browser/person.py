"""A person in the room: the seed's browser (ChatRoom.jsx), in Python.

One :class:`Person` is one Socket.IO client, a voice, and one :class:`~talklab.browser.link.Link`
(an ``RTCPeerConnection``) per other person in voice, following the seed step by step:

* Step 1 (``handleJoinVoice``: getUserMedia): the voice comes from
  :func:`talklab.get_user_media`; it is Opus-encoded once and the packets are shared by every
  link (:mod:`talklab.browser.encoding`).
* Step 2 (``socket.emit("joinVoice")``): :meth:`Person.join_voice`; the server answers
  ``voiceJoined`` or ``voiceError`` (then :class:`VoiceError` is raised).
* Steps 3, 5, 7 and 8, and a hang-up when someone leaves: what the seed's handlers decide for
  each event the server sends is decided by the person's :class:`~talklab.browser.room.RoomView`, a
  core with no I/O (read it beside the seed's JavaScript); the person carries it out
  (:meth:`Person._carry_out`): it makes the links, and each link does its steps.

What the person knows of the room comes only from what the server told it. If the signaling
connection goes (the server shut down: the seed's Step 9, "the signaling server's job is
done"), the calls already up carry on. Any of the seed's handlers can be replaced by a function
of your own (:meth:`Person.on`): that is how a notebook runs the handler *you* wrote in a live
room.

Offline by construction: ICE gathers only on the person's own loopback address, and
``iceServers`` is always given explicitly (aiortc would otherwise use a public STUN server).
A student in a class (``Lab(server=URL)``) gathers on the address that routes to the
teacher's server instead, and checks classmates within a wider :class:`~talklab.address.Scope`.

Tested in tests/test_mesh.py (the seed's mesh, made of Persons: Dave joins a room of three, the
seventh is refused, leaving and hanging up), tests/test_lab_room.py (a lab's handler in every
person; an interrupted leave finished by running it again), tests/test_link.py
(create_peer_connection) and tests/test_clear_errors.py (a person whose lab was replaced).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from typing import Any

from aiortc import RTCIceServer

from talklab._aiortc import Settings
from talklab.address import LOOPBACK, Scope
from talklab.browser.encoding import OpusFanout
from talklab.browser.link import Link, LinkConfig
from talklab.browser.media import MediaStream
from talklab.browser.report import LinkReporter, links_of
from talklab.browser.room import (
    SERVER_EVENTS,
    Accept,
    Action,
    AddCandidate,
    Answer,
    HangUp,
    Keep,
    Offer,
    Reply,
    RoomView,
    Tell,
)
from talklab.browser.signaling import client as signaling_client
from talklab.events import EventBus, until
from talklab.nat import Host
from talklab.notebook import Sentence
from talklab.tasks import within


class VoiceError(Exception):
    """The server refused a voice seat (the seed's ``voiceError``: "Voice channel is full!")."""


class SignalingError(Exception):
    """The server refused a request (``signalingError {event, message}``)."""


class NoLink(Sentence, KeyError):
    """``link_to(name)`` for someone this person has no call with (yet, or any more)."""


class ConnectionExists(Sentence, RuntimeError):
    """``create_peer_connection`` for someone this person already has a call with."""


class PersonClosed(Sentence, RuntimeError):
    """This person has hung up (or their lab was closed or replaced)."""


class Person:
    """One participant: a Socket.IO client, a voice, and a link to each other voice member."""

    def __init__(self, name: str, stream: MediaStream, *, host: Host | None = None,
                 ice_servers: Iterable[RTCIceServer] | None = None, relay_only: bool = False,
                 trickle: bool = True, events: EventBus | None = None,
                 settings: Settings | None = None, scope: Scope = LOOPBACK,
                 report_links: bool = False) -> None:
        self.name = name
        self.scope = scope  # whom its ICE agent may check: loopback, or (a class) wider
        self.stream = stream
        # this person's machine: its own loopback address, maybe behind a simulated NAT
        self.host = host or Host()
        self.ice_servers = list(ice_servers or [])  # never None: aiortc would go to Google
        self.relay_only = relay_only  # iceTransportPolicy "relay": only TURN candidates
        self.trickle = trickle  # candidates one by one (the seed), or all inside the SDP
        self.events = events or EventBus()
        self.settings = settings  # the lab's adjustments to aioice (talklab._aiortc)
        self.link_config = LinkConfig(name, self.host, tuple(self.ice_servers), relay_only,
                                      trickle, scope, settings)  # what its links share
        self.fanout = OpusFanout(stream.audio)
        self.sio = signaling_client()  # (no SIGINT handler: Interrupt Kernel must not kill it)
        self.sid: str | None = None
        self.view = RoomView()  # what it knows of the room, and what it does about it
        self.signaling = False  # connected to the signaling server right now
        self.links: dict[str, Link] = {}  # sid -> Link
        self.made_links: list[Link] = []  # every link made, closed with the person
        self.errors: list[dict] = []
        self.closed = False
        self.closed_because = "hung up"
        self.join_options: dict[str, Any] = {}  # how the lab made this person (see Lab.join)
        self.made_by: str | None = None  # in a notebook, the cell that added them (Lab.join)
        self._changed = asyncio.Event()
        self._replies: dict[str, asyncio.Future[tuple[str, Any]]] = {}
        self.url: str | None = None
        self.overrides: dict[str, Callable[..., Any]] = {}  # see on()
        for event in SERVER_EVENTS:
            self.sio.on(event, self._handler(event))
        # in a class: tell the teacher's dashboard how each call is (talklab.browser.report)
        self.reporter = LinkReporter(self._report, self.emit) if report_links else None
        self.sio.on("disconnect", self._on_disconnect)

    @property
    def room(self) -> str | None:
        return self.view.room

    @property
    def in_voice(self) -> bool:
        return self.view.in_voice

    # -- what the person knows ---------------------------------------------------------------
    @property
    def members(self) -> dict[str, str]:
        """``{sid: username}``: everyone in the room, as the server told this person."""
        return self.view.names()

    @property
    def voice_members(self) -> dict[str, str]:
        """``{sid: username}``: the others in voice, as the server told this person."""
        return self.view.voice() if self.in_voice else {}

    @property
    def address(self) -> str:
        return self.host.address

    @property
    def nat(self) -> str:
        return self.host.nat.kind if self.host.nat else "none"

    @property
    def tone_hz(self) -> float | None:
        return getattr(self.stream.audio, "tone_hz", None)

    # -- plumbing ------------------------------------------------------------------------------
    def changed(self) -> None:
        """Wake anyone waiting in :meth:`wait_until`."""
        self._changed.set()

    async def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait (event-driven, bounded) until ``condition()`` holds."""
        self._check_open()
        try:
            await until(self._changed, lambda: bool(condition()), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name}: {what} did not happen within {timeout} s") from None

    def _check_open(self) -> None:
        if self.closed:
            raise PersonClosed(f"{self.name} is gone ({self.closed_because}); "
                               f"add them again with lab.join({self.name!r}, ...)")

    async def emit(self, event: str, data: dict) -> None:
        if self.signaling:
            self._note_description(event, data)
            await self.sio.emit(event, data)

    def _note_description(self, event: str, data: Any) -> None:
        """Report an offer or answer on its way out, and whether its connection had set it as
        its local description first (the seed's order: set, then send)."""
        kind = {"webrtc-offer": "offer", "webrtc-answer": "answer"}.get(event)
        to = data.get("to") if isinstance(data, dict) else None
        link = self.links.get(to) if kind and isinstance(to, str) else None
        if link is not None:
            local = link.pc.localDescription
            self._publish("description-sent", description=kind, remote=link.remote_name,
                          set_first=local is not None and local.type == kind, link=link)

    async def _request(self, event: str, data: dict, replies: tuple[str, ...],
                       timeout: float) -> tuple[str, Any]:
        """Emit ``event`` and wait for the first of ``replies`` (or a signalingError for it)."""
        self._check_open()
        if not self.signaling:
            raise SignalingError(f"{self.name} is not connected to a signaling server")
        future = asyncio.get_running_loop().create_future()
        for reply in (*replies, f"signalingError:{event}"):
            self._replies[reply] = future
        try:
            await self.emit(event, data)
            return await within(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name}: the server did not answer {event} within "
                               f"{timeout} s") from None
        finally:
            for reply in (*replies, f"signalingError:{event}"):
                self._replies.pop(reply, None)

    def _reply(self, event: str, data: Any) -> None:
        future = self._replies.get(event)
        if future is not None and not future.done():
            future.set_result((event, data))

    def _publish(self, kind: str, **data: Any) -> None:
        self.changed()
        self.events.publish(kind, person=self.name, **data)
        if self.reporter is not None:
            self.reporter.changed(kind)

    def _report(self) -> dict | None:
        """What this person would tell the teacher's dashboard now (None: nothing to tell)."""
        if self.closed or not self.in_voice or not self.signaling:
            return None
        return {"room": self.room, "links": links_of(self.links)}

    # -- the seed's handlers, and carrying out what they decide ---------------------------------
    def on(self, event: str, handler: Callable[[Person, dict], Any] | None) -> None:
        """Handle a server event with your own function ``handler(person, data)`` (plain or
        ``async``) instead of talklab's: how a notebook runs *your* ``handleUserJoinedVoice``
        in a live room. ``None`` puts talklab's back. What the person knows of the room is
        updated either way."""
        if event not in SERVER_EVENTS:
            raise ValueError(f"{event!r} is not an event the server sends; one of "
                             f"{', '.join(SERVER_EVENTS)}")
        if handler is None:
            self.overrides.pop(event, None)
        else:
            self.overrides[event] = handler

    def _handler(self, event: str) -> Callable[..., Any]:
        async def handle(data: Any = None, *_: Any) -> None:
            if self.closed:
                return
            own = None if self.view.stale(event, data) else self.overrides.get(event)
            await self._carry_out(self.view.receive(event, data, calls=self.links.keys(),
                                                    decide=own is None))
            if own is not None:
                await self._run_override(event, own, data)
            self.changed()
        return handle

    async def _carry_out(self, actions: list[Action]) -> None:
        """Do what the room view decided, in order (each link does its own steps, in a task
        of its own: a slow step on one call never holds up the others)."""
        for action in actions:
            match action:
                case Tell(kind, data):
                    self._publish(kind, **data)
                case Reply(key, data):
                    self._reply(key, data)
                case Keep(error):
                    self.errors.append(error)
                case Offer(sid, name):
                    link = self._new_link(sid, name, "offerer")
                    link.do(link.offer)
                case Answer(sid, name, offer):
                    link = self.links.get(sid) or self._new_link(sid, name, "answerer")
                    link.do(functools.partial(link.on_offer, offer))
                case Accept(sid, answer):
                    link = self.links[sid]
                    link.do(functools.partial(link.on_answer, answer))
                case AddCandidate(sid, candidate):
                    link = self.links[sid]
                    link.do(functools.partial(link.on_candidate, candidate))
                case HangUp(sid):
                    gone = self.links.pop(sid, None)
                    if gone is not None:
                        await gone.close()
                        self._publish("link-closed", remote=gone.remote_name)

    async def _run_override(self, event: str, handler: Callable[..., Any], data: Any) -> None:
        try:
            result = handler(self, data)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result
        except Exception as exc:  # the learner's code: note it, keep the person alive
            self.errors.append({"event": event, "message": f"{type(exc).__name__}: {exc}",
                                "handler": getattr(handler, "__name__", "handler")})
            self._publish("handler-error", event=event, error=f"{type(exc).__name__}: {exc}",
                          exception=exc)

    async def _on_disconnect(self, *args: Any) -> None:
        """The signaling connection is gone. Calls already up carry on (the seed's Step 9):
        only the server's ``userLeftVoice`` ends a call."""
        if self.closed:
            return
        self.signaling = False
        self._publish("signaling-lost")

    def create_peer_connection(self, sid: str, name: str | None = None,
                               role: str = "offerer") -> Link:
        """The seed's ``createPeerConnection(socketId)``: a new RTCPeerConnection (a
        :class:`Link`) for ``sid``, with this person's voice already added to it.

        The seed's would also make a new one when this person already has a connection with
        ``sid``, and forget the old one, in the middle of its call: the new one has made no
        offer and applied none, so an answer or a candidate meant for the old one fails on it.
        talklab refuses instead (:class:`ConnectionExists`) and leaves the call as it is."""
        if not isinstance(sid, str) or not sid:
            raise TypeError(f"create_peer_connection takes the other person's socket id (a "
                            f"string, as the server sent it), got {sid!r}")
        existing = self.links.get(sid)
        if existing is not None and not existing.closed:
            who = existing.remote_name
            raise ConnectionExists(
                f"{self.name} already has a connection with {who} (made when {self.name} "
                f"{'offered to' if existing.role == 'offerer' else 'answered'} {who}): "
                "createPeerConnection makes a new, empty one, which knows nothing of that "
                f"exchange. Is this a new call with {who}, or the one already under way?")
        link = self._new_link(sid, name or self.members.get(sid, sid), role)
        link.attach_voice()
        return link

    def _new_link(self, sid: str, name: str, role: str) -> Link:
        link = Link(self.link_config, sid, name, role, send=self.emit,
                    report=lambda kind, data: self._publish(kind, **data),
                    voice=self.fanout.subscribe)
        self.links[sid] = link
        self.made_links.append(link)  # (closed with the person, even if dropped from links)
        self._publish("link-created", remote=name, role=role)
        return link

    async def _close_links(self) -> None:
        links, self.links = list(self.links.values()), {}
        links += [link for link in self.made_links if link not in links and not link.closed]
        self.made_links = []
        # shielded: an interrupt (Interrupt Kernel) while they close must not leave calls that
        # are no longer this person's, half closed
        await asyncio.shield(asyncio.gather(*(link.close() for link in links)))
        self.changed()

    # -- what a user does ----------------------------------------------------------------------
    async def connect(self, url: str, timeout: float = 5) -> Person:
        self._check_open()
        self.url = url
        await self.sio.connect(url, transports=["websocket"], wait_timeout=timeout)
        self.sid = self.sio.get_sid()
        self.view.me = self.sid
        self.signaling = True
        self._publish("connected", sid=self.sid)
        return self

    async def join_room(self, room: str, timeout: float = 5) -> None:
        kind, data = await self._request("joinRoom", {"room": room, "username": self.name},
                                         ("roomJoined",), timeout)
        if kind.startswith("signalingError"):
            raise SignalingError(data["message"])

    async def join_voice(self, timeout: float = 5) -> list[str]:
        """The seed's "Join Voice" click (Step 2). Returns who was already in voice.

        Raises :class:`VoiceError` when the server refuses ("Voice channel is full!").
        """
        self._check_open()
        if self.room is None:
            raise SignalingError("join a room first")
        if self.in_voice:  # already in: nothing to do (re-running a cell is harmless)
            return list(self.voice_members.values())
        self._publish("join-voice-sent", room=self.room)
        self.view.joining = True  # like the seed's browser: ready for offers once it asked
        try:
            kind, data = await self._request("joinVoice", {"room": self.room},
                                             ("voiceJoined", "voiceError"), timeout)
        finally:
            self.view.joining = False
        if kind == "voiceError":
            raise VoiceError(data["message"])
        if kind.startswith("signalingError"):
            raise SignalingError(data["message"])
        return [p["username"] for p in data["peers"]]

    async def leave_voice(self, timeout: float = 5) -> None:
        """Leave voice: tell the server, close every link."""
        self._check_open()
        if not self.in_voice:  # (an interrupted leave: the server let go, the calls did not)
            await self._close_links()
            return
        kind, data = await self._request("leaveVoice", {"room": self.room}, ("voiceLeft",),
                                         timeout)
        await self._close_links()
        if kind.startswith("signalingError"):
            raise SignalingError(data["message"])

    async def close(self, because: str = "hung up") -> None:
        """Hang up abruptly (like closing the tab): the server frees the seat and tells the room."""
        if self.closed:
            return
        self.closed, self.closed_because = True, because
        if self.reporter is not None:
            self.reporter.close()
        if self.sio.connected:
            await self.sio.disconnect()
        self.signaling = False
        await self._close_links()
        await self.fanout.close()
        self.stream.stop()
        self.host.close()
        self._publish("closed")

    async def wait_connected(self, timeout: float = 10, peers: set[str] | None = None) -> None:
        """Wait until there is a link to every other voice member and each has carried audio.

        ``peers`` (socket ids) says who the others are; by default, those this person has heard
        of. (The lab passes what all its people know: a join may not have reached everyone.)
        """
        self._check_open()

        def all_up() -> bool:
            expected = set(self.voice_members) if peers is None else peers
            return (self.in_voice and set(self.links) == expected
                    and all(link.state == "connected" for link in self.links.values()))
        await self.wait_until(all_up, timeout, "every voice link connected with audio")

    async def wait_heard(self, seconds: float = 1.0, timeout: float = 10) -> None:
        """Wait until ``seconds`` of audio have arrived from every current link."""
        self._check_open()
        frames = int(seconds * 50)
        try:
            await asyncio.gather(*(link.ear.wait_frames(frames, timeout)
                                   for link in list(self.links.values())))
        except TimeoutError:
            raise TimeoutError(f"{self.name}: {seconds} s of audio from everyone did not arrive "
                               f"within {timeout} s") from None

    # -- what a person can tell --------------------------------------------------------------
    def hears(self, seconds: float = 1.0) -> dict[str, float]:
        """``{name: Hz}``: the pitch arriving from each person currently heard."""
        out = {}
        for link in self.links.values():
            hz = link.ear.pitch(seconds)
            if hz is not None:
                out[link.remote_name] = round(hz, 2)
        return out

    def link_to(self, name: str) -> Link:
        for link in self.links.values():
            if link.remote_name == name:
                return link
        if self.closed:
            raise NoLink(f"{self.name} has no link to {name}: {self.name} is gone "
                         f"({self.closed_because})")
        known = ", ".join(link.remote_name for link in self.links.values()) or "nobody yet"
        raise NoLink(f"{self.name} has no link to {name} (links to: {known})")

    async def stats(self) -> dict[str, dict]:
        """Per remote person: packets sent, received and lost, jitter (s), state and route."""
        out = {}
        for link in list(self.links.values()):
            s = await link.stats()
            out[link.remote_name] = {"packets_received": s.packets_received,
                                     "packets_lost": s.packets_lost, "jitter": s.jitter,
                                     "packets_sent": s.packets_sent, "rtt": s.rtt,
                                     "state": s.state, "route": s.route}
        return out

    def __repr__(self) -> str:
        where = f"in voice in {self.room}" if self.in_voice else (
            f"in {self.room}" if self.room else "not in a room")
        return f"<Person {self.name} {where}, {len(self.links)} links>"


def join_differences(person: Person, wanted: dict[str, Any]) -> list[str]:
    """The join settings that differ from how ``person`` joined (``tone_hz=None``: any), for
    :meth:`talklab.Lab.join`: a person joining again with other settings hangs up first."""
    had = person.join_options
    changed = []
    for key, value in wanted.items():
        if key == "tone_hz" and value is None:
            continue
        if key == "nat" and isinstance(value, str) and isinstance(had.get("nat"), str):
            same = value == had["nat"]
        else:
            same = value is had.get(key) or value == had.get(key)
        if not same:
            changed.append(f"{key}={value!r}" if key != "stream" else "a new stream")
    return changed
