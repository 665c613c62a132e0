"""A person in the room: the seed's browser, in Python.

One :class:`Person` is one Socket.IO client plus one ``RTCPeerConnection`` per other person in
voice (a :class:`Link`), following the seed's ChatRoom.jsx step by step:

* Step 1: the voice comes from :func:`talklab.get_user_media`; it is Opus-encoded once and
  the packets are shared by every link (:mod:`talklab.encoding`).
* Step 2: ``join_voice()`` emits ``joinVoice``; the server answers ``voiceJoined`` or
  ``voiceError`` (then :class:`VoiceError` is raised).
* Step 3: on ``userJoinedVoice`` a person already in voice makes a link to the newcomer and
  sends ``webrtc-offer``.
* Step 5: the newcomer answers each offer with ``webrtc-answer``.
* Step 7: the offerer applies the answer.
* Step 8: candidates trickle as ``webrtc-ice-candidate`` messages, one each, then an
  end-of-candidates; received ones wait until the remote description is set.
* Step 9: every remote track is heard by an :class:`~talklab.hearing.Ear`.
* ``userLeftVoice``: that link is closed and forgotten; ``leave_voice()`` closes them all.

Each link handles its own messages one at a time, in order, in a task of its own, so a slow
step on one link never holds up the others, and a candidate never overtakes its offer.
Offline by construction: ICE gathers only on the person's own loopback address, and
``iceServers`` is always given explicitly (aiortc would otherwise use a public STUN server).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from . import _aiortc
from .encoding import OpusFanout
from .events import EventBus
from .hearing import Ear
from .ice import RemoteCandidates, candidate_to_json, route_of, selected_pair, split_candidates
from .ice.trickle import end_of_candidates, loopback_only
from .media import SAMPLE_RATE, MediaStream
from .nat import Host


class VoiceError(Exception):
    """The server refused a voice seat (the seed's ``voiceError``: "Voice channel is full!")."""


class SignalingError(Exception):
    """The server refused a request (``signalingError {event, message}``)."""


LINK_STATES = ("new", "connecting", "connected", "disconnected", "failed", "closed")


class Link:
    """One ``RTCPeerConnection`` from a person to one other person, and its story."""

    def __init__(self, person: Person, remote_sid: str, remote_name: str, role: str) -> None:
        self.person = person
        self.remote_sid = remote_sid
        self.remote_name = remote_name
        self.role = role  # "offerer" (was already in voice) or "answerer" (the newcomer)
        self.pc = RTCPeerConnection(RTCConfiguration(
            iceServers=person.ice_servers,
            iceTransportPolicy=(RTCIceTransportPolicy.RELAY if person.relay_only
                                else RTCIceTransportPolicy.ALL)))
        self.ear = Ear()
        self.ear.on_first_frame = lambda: self._step("first audio frame")
        self.timeline: list[tuple[float, str]] = []
        self.candidates_sent = 0
        self.remote_candidates = RemoteCandidates(self.pc.addIceCandidate)
        self._track = None
        self._work: asyncio.Queue[Callable[[], Awaitable[None]] | None] = asyncio.Queue()
        self._worker = asyncio.ensure_future(self._run())
        self._closed = False
        self.error: str | None = None
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)
        self.pc.on("iceconnectionstatechange", self._on_ice_state)

    # -- the story -----------------------------------------------------------------------------
    def _step(self, what: str) -> None:
        self.timeline.append((time.monotonic(), what))
        self.person.changed()
        self.person.events.publish("link-step", person=self.person.name, remote=self.remote_name,
                                   step=what)

    def _on_track(self, track) -> None:
        self.ear.listen(track)

    def _on_state(self) -> None:
        self._step(f"connection {self.pc.connectionState}")
        self.person.events.publish("link-state", person=self.person.name,
                                   remote=self.remote_name, state=self.state)

    def _on_ice_state(self) -> None:
        self._step(f"ICE {self.pc.iceConnectionState}")

    @property
    def state(self) -> str:
        """The link as a learner should see it: ``connected`` only once audio has arrived.

        aiortc says ``connected`` when ICE and DTLS are up; talklab waits for the first decoded
        audio frame from the other side too, so a line drawn as connected has carried sound.
        """
        if self._closed:
            return "closed"
        state = self.pc.connectionState
        if state == "connected" and not self.ear.heard:
            return "connecting"
        return state

    @property
    def route(self) -> str | None:
        """host / srflx / prflx / relay: how the chosen candidate pair carries audio."""
        return route_of(selected_pair(self.pc))

    def steps(self) -> list[str]:
        return [what for _, what in self.timeline]

    # -- the protocol, one message at a time ---------------------------------------------------
    def do(self, job: Callable[[], Awaitable[None]]) -> None:
        self._work.put_nowait(job)

    async def _run(self) -> None:
        while True:
            job = await self._work.get()
            if job is None:
                return
            try:
                await job()
            except Exception as exc:  # record it: a bad message must not kill the person
                self.error = f"{type(exc).__name__}: {exc}"
                self._step(f"error: {self.error}")

    def _attach_voice(self) -> None:
        if self._track is None:
            self._track = self.person.fanout.subscribe()
            self.pc.addTrack(self._track)

    async def _set_local(self, description: RTCSessionDescription) -> None:
        with _aiortc.gathering_on(self.person.host):
            await self.pc.setLocalDescription(description)

    async def _send_description(self, event: str) -> None:
        local = self.pc.localDescription
        if not self.person.trickle:  # everything gathered first, all in the one description
            await self.person.emit(event, {local.type: {"type": local.type, "sdp": local.sdp},
                                           "to": self.remote_sid})
            self._step(f"{local.type} sent (with all candidates)")
            return
        sdp, candidates = split_candidates(local.sdp)
        await self.person.emit(event, {local.type: {"type": local.type, "sdp": sdp},
                                       "to": self.remote_sid})
        self._step(f"{local.type} sent")
        for candidate in candidates:
            await self.person.emit("webrtc-ice-candidate",
                                   {"candidate": candidate_to_json(candidate),
                                    "to": self.remote_sid})
            self.candidates_sent += 1
        mid = candidates[0].sdp_mid if candidates else "0"
        await self.person.emit("webrtc-ice-candidate",
                               {"candidate": end_of_candidates(mid), "to": self.remote_sid})
        self._step(f"{len(candidates)} candidates sent")

    async def offer(self) -> None:
        """Step 3: create the connection's offer and send it (the one already in voice)."""
        self._attach_voice()
        await self._set_local(await self.pc.createOffer())
        await self._send_description("webrtc-offer")

    async def _set_remote(self, description: dict) -> None:
        """Apply the other side's description (loopback candidates only), then the candidates
        that arrived before it."""
        await self.pc.setRemoteDescription(RTCSessionDescription(
            loopback_only(description["sdp"]), description["type"]))
        await self.remote_candidates.remote_description_set()

    async def on_offer(self, offer: dict) -> None:
        """Step 5: apply the offer, answer it (the newcomer)."""
        self._step("offer received")
        await self._set_remote(offer)
        self._attach_voice()
        await self._set_local(await self.pc.createAnswer())
        await self._send_description("webrtc-answer")

    async def on_answer(self, answer: dict) -> None:
        """Step 7: apply the answer."""
        self._step("answer received")
        await self._set_remote(answer)

    async def on_candidate(self, candidate: dict) -> None:
        before = self.remote_candidates.received
        await self.remote_candidates.add(candidate)
        if self.remote_candidates.received > before and self.remote_candidates.received == 1:
            self._step("first candidate received")
        if self.remote_candidates.ended:
            self._step(f"{self.remote_candidates.received} candidates received")

    # -- the end --------------------------------------------------------------------------------
    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._work.put_nowait(None)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        await self.ear.stop()
        if self._track is not None:
            self._track.stop()
        await self.pc.close()
        self._step("closed")

    def __repr__(self) -> str:
        return f"<Link {self.person.name}->{self.remote_name} {self.state} {self.route}>"


class Person:
    """One participant: a Socket.IO client, a voice, and a link to each other voice member."""

    def __init__(self, name: str, stream: MediaStream, *, host: Host | None = None,
                 ice_servers: list[RTCIceServer] | None = None, relay_only: bool = False,
                 trickle: bool = True, events: EventBus | None = None) -> None:
        self.name = name
        self.stream = stream
        # this person's machine: its own loopback address, maybe behind a simulated NAT
        self.host = host or Host()
        self.ice_servers = list(ice_servers or [])  # never None: aiortc would go to Google
        self.relay_only = relay_only  # iceTransportPolicy "relay": only TURN candidates
        self.trickle = trickle  # candidates one by one (the seed), or all inside the SDP
        self.events = events or EventBus()
        self.fanout = OpusFanout(stream.audio)
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sid: str | None = None
        self.room: str | None = None
        self.in_voice = False
        self._joining = False
        self._before_me: set[str] = set()  # who was in voice when we joined: they offer to us
        self.members: dict[str, str] = {}  # sid -> username, everyone in the room
        self.voice_members: dict[str, str] = {}  # sid -> username, the others in voice
        self.links: dict[str, Link] = {}  # sid -> Link
        self.errors: list[dict] = []
        self._changed = asyncio.Event()
        self._replies: dict[str, asyncio.Future] = {}
        self._url: str | None = None
        for event in ("roomJoined", "userJoinedRoom", "userLeftRoom", "voiceJoined", "voiceLeft",
                      "voiceError", "userJoinedVoice", "userLeftVoice", "webrtc-offer",
                      "webrtc-answer", "webrtc-ice-candidate", "signalingError"):
            self.sio.on(event, getattr(self, "_on_" + event.replace("-", "_")))
        self.sio.on("disconnect", self._on_disconnect)

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

    async def emit(self, event: str, data: dict) -> None:
        await self.sio.emit(event, data)

    async def _request(self, event: str, data: dict, replies: tuple[str, ...],
                       timeout: float) -> tuple[str, Any]:
        """Emit ``event`` and wait for the first of ``replies`` (or a signalingError for it)."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        for reply in (*replies, f"signalingError:{event}"):
            self._replies[reply] = future
        try:
            await self.emit(event, data)
            return await asyncio.wait_for(future, timeout)
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
        self._url = url
        await self.sio.connect(url, transports=["websocket"], wait_timeout=timeout)
        self.sid = self.sio.get_sid()
        self._publish("connected", sid=self.sid)
        return self

    async def join_room(self, room: str, timeout: float = 5) -> None:
        kind, data = await self._request("joinRoom", {"room": room, "username": self.name},
                                         ("roomJoined",), timeout)
        if kind.startswith("signalingError"):
            raise SignalingError(data["message"])

    async def join_voice(self, timeout: float = 5) -> list[str]:
        """The seed's "Join Voice" click. Returns who was already in voice.

        Raises :class:`VoiceError` when the server refuses ("Voice channel is full!").
        """
        if self.room is None:
            raise SignalingError("join a room first")
        if self.in_voice:  # already in: nothing to do (re-running a cell is harmless)
            return [name for name in self.voice_members.values()]
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
        if not self.in_voice:
            return
        kind, data = await self._request("leaveVoice", {"room": self.room}, ("voiceLeft",),
                                         timeout)
        await self._close_links()
        if kind.startswith("signalingError"):
            raise SignalingError(data["message"])

    async def close(self) -> None:
        """Hang up abruptly (like closing the tab): the server frees the seat and tells the room."""
        if self.sio.connected:
            await self.sio.disconnect()
        await self._close_links()
        await self.fanout.close()
        self.stream.stop()
        self._publish("closed")

    async def wait_connected(self, timeout: float = 10,
                             peers: set[str] | None = None) -> None:
        """Wait until there is a link to every other voice member and each has carried audio.

        ``peers`` (socket ids) says who the others are; by default, those this person has heard
        of. (The lab passes the server's list: a join may not have reached everyone yet.)
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
            raise TimeoutError(f"{self.name}: {seconds}s of audio from everyone did not arrive "
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
        raise KeyError(f"{self.name} has no link to {name}")

    async def stats(self) -> dict[str, dict]:
        """Per remote person: packets received and lost, jitter (s), and the link's state."""
        out = {}
        for link in list(self.links.values()):
            entry = {"packets_received": 0, "packets_lost": 0, "jitter": 0.0,
                     "packets_sent": 0, "state": link.state, "route": link.route}
            for stat in (await link.pc.getStats()).values():
                if stat.type == "inbound-rtp":
                    entry.update(packets_received=stat.packetsReceived,
                                 packets_lost=stat.packetsLost,
                                 jitter=stat.jitter / SAMPLE_RATE)  # RTP units -> s
                elif stat.type == "outbound-rtp":
                    entry["packets_sent"] = stat.packetsSent
            out[link.remote_name] = entry
        return out

    # -- the server's events: rooms ----------------------------------------------------------
    async def _on_roomJoined(self, data: dict) -> None:
        self.room = data["room"]
        self.members = {m["socketId"]: m["username"] for m in data["members"]}
        self._publish("room-joined", room=self.room)
        self._reply("roomJoined", data)

    async def _on_userJoinedRoom(self, data: dict) -> None:
        self.members[data["socketId"]] = data["username"]
        self.changed()

    async def _on_userLeftRoom(self, data: dict) -> None:
        self.members.pop(data["socketId"], None)
        self.changed()

    async def _on_signalingError(self, data: dict) -> None:
        self.errors.append(data)
        self._publish("signaling-error", **data)
        self._reply(f"signalingError:{data.get('event')}", data)

    async def _on_disconnect(self, *args: Any) -> None:
        self.in_voice = False
        self.changed()

    # -- voice ----------------------------------------------------------------------------------
    async def _on_voiceJoined(self, data: dict) -> None:
        self.in_voice = True
        self.voice_members = {p["socketId"]: p["username"] for p in data["peers"]}
        self._before_me = set(self.voice_members)
        self._publish("voice-joined", room=data["room"],
                      peers=[p["username"] for p in data["peers"]])
        self._reply("voiceJoined", data)

    async def _on_voiceError(self, data: dict) -> None:
        self._publish("voice-error", message=data["message"])
        self._reply("voiceError", data)

    async def _on_voiceLeft(self, data: dict) -> None:
        self.in_voice = False
        self.voice_members = {}
        self._publish("voice-left", room=data["room"])
        self._reply("voiceLeft", data)

    async def _on_userJoinedVoice(self, data: dict) -> None:
        """Step 3: someone joined voice; as one already in voice, send them an offer."""
        sid, name = data["socketId"], data["username"]
        self.members[sid] = name
        # Only for a newcomer. Someone listed in our own voiceJoined was in voice before us and
        # offers to us; their userJoinedVoice can still arrive after our voiceJoined when two
        # people join at nearly the same moment, and offering back would be glare.
        if not self.in_voice or sid in self.links or sid in self._before_me:
            return
        self.voice_members[sid] = name
        link = self._new_link(sid, name, "offerer")
        link.do(link.offer)

    async def _on_userLeftVoice(self, data: dict) -> None:
        sid = data["socketId"]
        self.voice_members.pop(sid, None)
        self._before_me.discard(sid)  # if they come back, they are a newcomer: we offer
        link = self.links.pop(sid, None)
        if link is not None:
            await link.close()
            self._publish("link-closed", remote=link.remote_name)
        self.changed()

    # -- the relays -----------------------------------------------------------------------------
    async def _on_webrtc_offer(self, data: dict) -> None:
        sid = data["from"]
        if not (self.in_voice or self._joining):
            return
        link = self.links.get(sid)
        if link is None:
            name = self.members.get(sid, sid)
            self.voice_members.setdefault(sid, name)
            link = self._new_link(sid, name, "answerer")
        link.do(lambda: link.on_offer(data["offer"]))

    async def _on_webrtc_answer(self, data: dict) -> None:
        link = self.links.get(data["from"])
        if link is not None:
            link.do(lambda: link.on_answer(data["answer"]))

    async def _on_webrtc_ice_candidate(self, data: dict) -> None:
        link = self.links.get(data["from"])
        if link is not None:
            link.do(lambda: link.on_candidate(data["candidate"]))

    def _new_link(self, sid: str, name: str, role: str) -> Link:
        link = Link(self, sid, name, role)
        self.links[sid] = link
        self._publish("link-created", remote=name, role=role)
        return link

    async def _close_links(self) -> None:
        links, self.links = list(self.links.values()), {}
        self.voice_members = {}
        await asyncio.gather(*(link.close() for link in links))
        self.changed()

    def __repr__(self) -> str:
        where = f"in voice in {self.room}" if self.in_voice else (
            f"in {self.room}" if self.room else "not in a room")
        return f"<Person {self.name} {where}, {len(self.links)} links>"
