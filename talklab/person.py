"""A person in the room: the seed's browser (ChatRoom.jsx), in Python.

One :class:`Person` is one Socket.IO client, a voice, and one :class:`~talklab.link.Link` (an
``RTCPeerConnection``) per other person in voice, following the seed step by step:

* Step 1 (``handleJoinVoice``: getUserMedia): the voice comes from
  :func:`talklab.get_user_media`; it is Opus-encoded once and the packets are shared by every
  link (:mod:`talklab.encoding`).
* Step 2 (``socket.emit("joinVoice")``): :meth:`Person.join_voice`; the server answers
  ``voiceJoined`` or ``voiceError`` (then :class:`VoiceError` is raised).
* Step 3 (``handleUserJoinedVoice``): on ``userJoinedVoice`` a person already in voice makes a
  link to the newcomer and sends ``webrtc-offer``.
* Step 5 (``handleWebRTCOffer``): the newcomer answers each offer with ``webrtc-answer``.
* Step 7 (``handleWebRTCAnswer``) and Step 8 (``handleWebRTCICECandidate``): handed to the link.
* ``userLeftVoice``: that link is closed and forgotten; :meth:`Person.leave_voice` closes all.

What the person knows of the room comes only from what the server told it
(:class:`~talklab.roomview.RoomView`). If the signaling connection goes (the server shut down:
the seed's Step 9, "the signaling server's job is done"), the calls already up carry on.

Offline by construction: ICE gathers only on the person's own loopback address, and
``iceServers`` is always given explicitly (aiortc would otherwise use a public STUN server).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import socketio
from aiortc import RTCIceServer

from ._aiortc import Settings
from .encoding import OpusFanout
from .events import EventBus
from .link import Link
from .media import MediaStream
from .nat import Host
from .roomview import RoomView

SERVER_EVENTS = ("roomJoined", "userJoinedRoom", "userLeftRoom", "voiceJoined", "voiceLeft",
                 "voiceError", "userJoinedVoice", "userLeftVoice", "webrtc-offer",
                 "webrtc-answer", "webrtc-ice-candidate", "signalingError")


class VoiceError(Exception):
    """The server refused a voice seat (the seed's ``voiceError``: "Voice channel is full!")."""


class SignalingError(Exception):
    """The server refused a request (``signalingError {event, message}``)."""


class PersonClosed(RuntimeError):
    """This person has hung up (or their lab was closed or replaced)."""


class Person:
    """One participant: a Socket.IO client, a voice, and a link to each other voice member."""

    def __init__(self, name: str, stream: MediaStream, *, host: Host | None = None,
                 ice_servers: list[RTCIceServer] | None = None, relay_only: bool = False,
                 trickle: bool = True, events: EventBus | None = None,
                 settings: Settings | None = None) -> None:
        self.name = name
        self.stream = stream
        # this person's machine: its own loopback address, maybe behind a simulated NAT
        self.host = host or Host()
        self.ice_servers = list(ice_servers or [])  # never None: aiortc would go to Google
        self.relay_only = relay_only  # iceTransportPolicy "relay": only TURN candidates
        self.trickle = trickle  # candidates one by one (the seed), or all inside the SDP
        self.events = events or EventBus()
        self.settings = settings  # the lab's adjustments to aioice (talklab._aiortc)
        self.fanout = OpusFanout(stream.audio)
        # handle_sigint=False: python-socketio would otherwise install a SIGINT handler that
        # stops the event loop, so "Interrupt Kernel" in Jupyter would kill the kernel.
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.sid: str | None = None
        self.view = RoomView()
        self.signaling = False  # connected to the signaling server right now
        self._joining = False
        self._before_me: set[str] = set()  # who was in voice when we joined: they offer to us
        self.links: dict[str, Link] = {}  # sid -> Link
        self.errors: list[dict] = []
        self.closed = False
        self.closed_because = "hung up"
        self.join_options: dict[str, Any] = {}  # how the lab made this person (see Lab.join)
        self._changed = asyncio.Event()
        self._replies: dict[str, asyncio.Future[tuple[str, Any]]] = {}
        self.url: str | None = None
        for event in SERVER_EVENTS:
            self.sio.on(event, self._handler(event))
        self.sio.on("disconnect", self._on_disconnect)

    # -- what the person knows ---------------------------------------------------------------
    @property
    def room(self) -> str | None:
        return self.view.room

    @property
    def in_voice(self) -> bool:
        return self.view.in_voice

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
        async def loop() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name}: {what} did not happen within {timeout} s") from None

    def _check_open(self) -> None:
        if self.closed:
            raise PersonClosed(f"{self.name} is gone ({self.closed_because}); "
                               f"add them again with lab.join({self.name!r}, ...)")

    async def emit(self, event: str, data: dict) -> None:
        if self.signaling:
            await self.sio.emit(event, data)

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
            return await asyncio.wait_for(future, timeout)
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
        self._joining = True  # like the seed's browser: ready for offers once it has asked
        try:
            kind, data = await self._request("joinVoice", {"room": self.room},
                                             ("voiceJoined", "voiceError"), timeout)
        finally:
            self._joining = False
        if kind == "voiceError":
            raise VoiceError(data["message"])
        if kind.startswith("signalingError"):
            raise SignalingError(data["message"])
        return [p["username"] for p in data["peers"]]

    async def leave_voice(self, timeout: float = 5) -> None:
        """Leave voice: tell the server, close every link."""
        self._check_open()
        if not self.in_voice:
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
        def all_up() -> bool:
            expected = set(self.voice_members) if peers is None else peers
            return (self.in_voice and set(self.links) == expected
                    and all(link.state == "connected" for link in self.links.values()))
        await self.wait_until(all_up, timeout, "every voice link connected with audio")

    async def wait_heard(self, seconds: float = 1.0, timeout: float = 10) -> None:
        """Wait until ``seconds`` of audio have arrived from every current link."""
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
        known = ", ".join(link.remote_name for link in self.links.values()) or "nobody yet"
        raise KeyError(f"{self.name} has no link to {name} (links to: {known})")

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

    # -- the server's events -------------------------------------------------------------------
    def _handler(self, event: str) -> Callable[[Any], Any]:
        specific = getattr(self, "_on_" + event.replace("-", "_"), None)

        async def handle(data: Any = None, *_: Any) -> None:
            if self.closed:
                return
            self.view.apply(event, data)
            if specific is not None and isinstance(data, dict):
                await specific(data)
            self.changed()
        return handle

    async def _on_roomJoined(self, data: dict) -> None:
        self._publish("room-joined", room=self.room)
        self._reply("roomJoined", data)

    async def _on_signalingError(self, data: dict) -> None:
        self.errors.append(data)
        self._publish("signaling-error", **data)
        self._reply(f"signalingError:{data.get('event')}", data)

    async def _on_disconnect(self, *args: Any) -> None:
        """The signaling connection is gone. Calls already up carry on (the seed's Step 9):
        only the server's ``userLeftVoice`` ends a call."""
        if self.closed:
            return
        self.signaling = False
        self._publish("signaling-lost")

    async def _on_voiceJoined(self, data: dict) -> None:
        self._before_me = {p["socketId"] for p in data.get("peers", [])
                           if isinstance(p, dict) and isinstance(p.get("socketId"), str)}
        self._publish("voice-joined", room=data.get("room"),
                      peers=[p.get("username") for p in data.get("peers", [])])
        self._reply("voiceJoined", data)

    async def _on_voiceError(self, data: dict) -> None:
        self._publish("voice-error", message=data.get("message"))
        self._reply("voiceError", data)

    async def _on_voiceLeft(self, data: dict) -> None:
        self._publish("voice-left", room=data.get("room"))
        self._reply("voiceLeft", data)

    async def _on_userJoinedVoice(self, data: dict) -> None:
        """Step 3 (the seed's ``handleUserJoinedVoice``): someone joined voice; as one already
        in voice, make a connection for them and send them an offer."""
        sid, name = data.get("socketId"), data.get("username")
        if not isinstance(sid, str) or not isinstance(name, str):
            return
        self._publish("told-of-voice-join", newcomer=name)
        # Only for a newcomer. Someone listed in our own voiceJoined was in voice before us and
        # offers to us; their userJoinedVoice can still arrive after our voiceJoined when two
        # people join at nearly the same moment, and offering back would be glare.
        if not self.in_voice or sid in self.links or sid in self._before_me or sid == self.sid:
            return
        link = self._new_link(sid, name, "offerer")
        link.do(link.offer)

    async def _on_userLeftVoice(self, data: dict) -> None:
        sid = data.get("socketId")
        if not isinstance(sid, str):
            return
        self._before_me.discard(sid)  # if they come back, they are a newcomer: we offer
        link = self.links.pop(sid, None)
        if link is not None:
            await link.close()
            self._publish("link-closed", remote=link.remote_name)

    # -- the relays: Steps 5, 7 and 8 -----------------------------------------------------------
    async def _on_webrtc_offer(self, data: dict) -> None:
        """Step 5 (the seed's ``handleWebRTCOffer``): a connection for whoever offered."""
        sid, offer = data.get("from"), data.get("offer")
        if not (self.in_voice or self._joining) or not isinstance(sid, str) \
                or not isinstance(offer, dict):
            return
        link = self.links.get(sid)
        if link is None:
            link = self._new_link(sid, self.members.get(sid, sid), "answerer")
        link.do(lambda: link.on_offer(offer))

    async def _on_webrtc_answer(self, data: dict) -> None:
        """Step 7 (the seed's ``handleWebRTCAnswer``)."""
        link, answer = self.links.get(str(data.get("from"))), data.get("answer")
        if link is not None and isinstance(answer, dict):
            link.do(lambda: link.on_answer(answer))

    async def _on_webrtc_ice_candidate(self, data: dict) -> None:
        """Step 8 (the seed's ``handleWebRTCICECandidate``)."""
        link = self.links.get(str(data.get("from")))
        candidate = data.get("candidate")
        if link is not None and isinstance(candidate, dict):
            link.do(lambda: link.on_candidate(candidate))

    def _new_link(self, sid: str, name: str, role: str) -> Link:
        link = Link(self, sid, name, role)
        self.links[sid] = link
        self._publish("link-created", remote=name, role=role)
        return link

    async def _close_links(self) -> None:
        links, self.links = list(self.links.values()), {}
        await asyncio.gather(*(link.close() for link in links))
        self.changed()

    def __repr__(self) -> str:
        where = f"in voice in {self.room}" if self.in_voice else (
            f"in {self.room}" if self.room else "not in a room")
        return f"<Person {self.name} {where}, {len(self.links)} links>"
