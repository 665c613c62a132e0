"""One ``RTCPeerConnection`` from a person to one other person: the seed's ``createPeerConnection``.

A :class:`Link` carries one call of the mesh and remembers its story (:meth:`Link.steps`). It
does the seed's browser steps for that one connection:

* Step 3 (``handleUserJoinedVoice``, the one already in voice): :meth:`Link.offer`;
* Step 5 (``handleWebRTCOffer``, the newcomer): :meth:`Link.on_offer` answers;
* Step 7 (``handleWebRTCAnswer``): :meth:`Link.on_answer`;
* Step 8 (``onicecandidate`` and ``handleWebRTCICECandidate``): candidates leave one message
  each (:mod:`talklab.ice.trickle`): the host ones with the description, a server-reflexive
  one when the STUN server answers; arriving ones wait for the remote description;
* Step 9: the remote track is heard by an :class:`~talklab.browser.hearing.Ear`.

Its messages are handled one at a time, in order, in a task of its own, so a slow step on one
link never holds up the others, and a candidate never overtakes its offer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamTrack

from talklab import _aiortc
from talklab._aiortc import access
from talklab.address import LOOPBACK, Scope
from talklab.browser.hearing import Ear
from talklab.browser.media import SAMPLE_RATE
from talklab.ice import (
    RemoteCandidates,
    candidate_to_json,
    route_of,
    selected_pair,
    split_candidates,
)
from talklab.ice.trickle import LaterReflexive, candidate_json, end_of_candidates, loopback_only
from talklab.media_plane.dtls import DtlsSession
from talklab.nat import Host
from talklab.tasks import cancel_and_wait

LINK_STATES = ("new", "connecting", "connected", "disconnected", "failed", "closed")


@dataclass(frozen=True)
class LinkStats:
    """One reading of a link's counters (cumulative; a view takes differences for rates)."""

    t: float  # time.monotonic()
    state: str
    route: str | None
    packets_sent: int  # RTP packets of our voice sent on this link
    packets_received: int  # RTP packets of theirs received
    packets_lost: int  # theirs, lost on the way to us (RTP sequence gaps)
    bytes_sent: int  # everything this link's transport sent (RTP, RTCP, DTLS, STUN)
    bytes_received: int
    jitter: float  # s, of what we receive (RFC 3550, 6.4.1)
    rtt: float | None  # s, from RTCP receiver reports about our stream (None until one came)
    lost_by_them: int  # our packets the other side reports lost


@dataclass(frozen=True)
class LinkConfig:
    """What every connection of one person shares: whose it is and how it reaches others.

    A person gives its links this at construction, with callbacks to send a message and to
    report a change (see :class:`Link`): a link never reads its person."""

    name: str  # the person whose connection it is (for its story and the views)
    host: Host  # the person's machine: its address, maybe behind a simulated NAT
    ice_servers: tuple[RTCIceServer, ...] = ()  # never None: aiortc would go to Google's
    relay_only: bool = False  # iceTransportPolicy "relay": only TURN candidates
    trickle: bool = True  # candidates one by one (the seed), or all inside the SDP
    scope: Scope = LOOPBACK  # whose candidates it may check
    settings: _aiortc.Settings | None = None  # the lab's adjustments to aioice


class Link:
    """One call between two people, and its story.

    It is made with its person's :class:`LinkConfig` and three callbacks, and reports through
    them, never reading its person: ``send(event, data)`` emits one of the seed's messages to
    the signaling server, ``report(kind, data)`` tells the person something happened (a step
    of its story, a new state), ``voice()`` gives the person's voice as a new track."""

    def __init__(self, config: LinkConfig, remote_sid: str, remote_name: str, role: str, *,
                 send: Callable[[str, dict], Awaitable[None]],
                 report: Callable[[str, dict], None],
                 voice: Callable[[], MediaStreamTrack]) -> None:
        self.config = config
        self.local_name = config.name
        self.remote_sid = remote_sid
        self.remote_name = remote_name
        self.role = role  # "offerer" (was already in voice) or "answerer" (the newcomer)
        self._send, self._report, self._voice = send, report, voice
        self.pc = RTCPeerConnection(RTCConfiguration(
            iceServers=list(config.ice_servers),  # never None: aiortc would use Google's
            iceTransportPolicy=(RTCIceTransportPolicy.RELAY if config.relay_only
                                else RTCIceTransportPolicy.ALL)))
        self.ear = Ear()
        self.ear.on_first_frame = lambda: self._step("first audio frame")
        self.timeline: list[tuple[float, str]] = []
        self.candidates_sent = 0
        self.remote_candidates = RemoteCandidates(self.pc.addIceCandidate, config.scope)
        self._track: MediaStreamTrack | None = None
        self._work: asyncio.Queue[Callable[[], Awaitable[None]] | None] = asyncio.Queue()
        # a browser's "operations chain": descriptions and candidates are applied one at a
        # time, in the order they were asked for (W3C webrtc, 4.4.1.2)
        self._chain = asyncio.Lock()
        self._waiting: set[asyncio.Future[None]] = set()  # callers of queued(), until it ran
        self._worker = asyncio.ensure_future(self._run())
        self._trickling: asyncio.Future[None] | None = None  # srflx candidates still to send
        self._closed = False
        self.error: str | None = None
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)
        self.pc.on("iceconnectionstatechange", self._on_ice_state)

    # -- the story -----------------------------------------------------------------------------
    def _step(self, what: str) -> None:
        self.timeline.append((time.monotonic(), what))
        self._report("link-step", {"remote": self.remote_name, "step": what})

    def _on_track(self, track: Any) -> None:
        self.ear.listen(track)

    def _on_state(self) -> None:
        self._step(f"connection {self.pc.connectionState}")
        self._report("link-state", {"remote": self.remote_name, "state": self.state})

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
        state: str = self.pc.connectionState
        if state == "connected" and not self.ear.heard:
            return "connecting"
        return state

    @property
    def dtls(self) -> DtlsSession | None:
        """What this call's DTLS handshake agreed (role, cipher, SRTP profile, fingerprints,
        the SRTP keys), once it completed; None before (see :mod:`talklab.media_plane.dtls`)."""
        return access.dtls_session(self.pc)

    @property
    def refused(self) -> bool:
        """Whether this end refused the other's certificate (it did not match the
        ``a=fingerprint`` of their description)."""
        return access.refused_certificate(self.pc)

    @property
    def failure(self) -> str | None:
        """Why the call failed, when its DTLS connection says why (None otherwise): the
        certificate received did not match the description's ``a=fingerprint``, or the other
        end closed the encrypted connection before any audio came (as it does when it refused
        ours)."""
        if self.refused:
            return (f"the fingerprints did not match: the certificate {self.remote_name} "
                    f"presented in the DTLS handshake is not the one whose fingerprint "
                    f"(a=fingerprint) came in {self.remote_name}'s description, so "
                    f"{self.local_name} refused the call (was the description changed on its "
                    "way?)")
        if self.pc.connectionState == "closed" and not self._closed and not self.ear.heard:
            return (f"{self.remote_name} closed the encrypted connection (DTLS) before any "
                    "audio came: they refused the call")
        return None

    @property
    def route(self) -> str | None:
        """host / srflx / prflx / relay: how the chosen candidate pair carries audio."""
        return route_of(selected_pair(self.pc))

    @property
    def closed(self) -> bool:
        return self._closed

    def steps(self) -> list[str]:
        return [what for _, what in self.timeline]

    # -- the protocol, one message at a time ---------------------------------------------------
    def do(self, job: Callable[[], Awaitable[None]]) -> None:
        if not self._closed:
            self._work.put_nowait(job)

    async def _run(self) -> None:
        _aiortc.bind(self.config.settings)  # this link's aioice runs with its lab's settings
        while True:
            job = await self._work.get()
            if job is None:
                return
            try:
                await job()
            except Exception as exc:  # record it: a bad message must not kill the person
                self.error = f"{type(exc).__name__}: {exc}"
                self._step(f"error: {self.error}")

    def attach_voice(self) -> None:
        """Add the person's voice to this connection (once): the seed's
        ``localStream.getTracks().forEach(track => pc.addTrack(track, stream))``."""
        if self._track is None:
            self._track = self._voice()
            with _aiortc.gathering_on(self.config.host):  # (its ICE agent is made here)
                self.pc.addTrack(self._track)

    async def set_local(self, description: RTCSessionDescription) -> None:
        """``pc.setLocalDescription(description)``, gathering ICE candidates on the person's
        own (maybe NATed) address: what the seed's browser does in that call. Like a
        browser's, it refuses a description of the wrong kind for the connection's signaling
        state (:class:`InvalidStateError`): an answer before any offer arrived, say."""
        if not isinstance(description, RTCSessionDescription):
            raise TypeError(_not_local(description))
        async with self._chain:
            _allowed(self.pc.signalingState, "local", description.type, self.remote_name)
            with _aiortc.gathering_on(self.config.host):
                await self.pc.setLocalDescription(description)

    async def _describe(self, description: RTCSessionDescription, event: str) -> None:
        """Set ``description`` as the local one and send it as ``event``. Trickling (the
        seed's way), it leaves at once with the host candidates, and the server-reflexive ones
        follow when the STUN server answers (:class:`~talklab.ice.trickle.LaterReflexive`);
        gathering first, it leaves once every candidate is known, all of them inside it."""
        if not self.config.trickle:
            await self.set_local(description)
            await self._send_description(event, None)
            return
        later = LaterReflexive.of(self.pc)
        with later.defer():
            await self.set_local(description)
        await self._send_description(event, later)

    async def _send_description(self, event: str, later: LaterReflexive | None) -> None:
        local = self.pc.localDescription
        if not self.config.trickle:  # everything gathered first, all in the one description
            await self._send(event, {local.type: {"type": local.type, "sdp": local.sdp},
                                           "to": self.remote_sid})
            self._step(f"{local.type} sent (with all candidates)")
            return
        sdp, candidates = split_candidates(local.sdp)
        await self._send(event, {local.type: {"type": local.type, "sdp": sdp},
                                       "to": self.remote_sid})
        self._step(f"{local.type} sent")
        for candidate in candidates:  # the seed's pc.onicecandidate, once per route found
            await self._send_candidate(candidate_to_json(candidate))
        mid = candidates[0].sdp_mid if candidates else "0"
        if later is not None and later.pending:  # STUN's answer is still to come
            self._trickling = asyncio.ensure_future(self._send_later(later, mid))
            return
        await self._end_of_candidates(mid)

    async def _send_candidate(self, candidate: dict) -> None:
        await self._send("webrtc-ice-candidate",
                               {"candidate": candidate, "to": self.remote_sid})
        self.candidates_sent += 1

    async def _send_later(self, later: LaterReflexive, mid: str | None) -> None:
        """The STUN server's answers, as srflx candidates, then end-of-candidates."""
        try:
            for candidate in await later.gather():
                self._step("STUN answered: srflx candidate found")
                await self._send_candidate(candidate_json(candidate, mid))
            await self._end_of_candidates(mid)
        except Exception as exc:  # (a task of its own: nobody else would see it)
            self.error = f"{type(exc).__name__}: {exc}"
            self._step(f"error: {self.error}")

    async def _end_of_candidates(self, mid: str | None) -> None:
        await self._send("webrtc-ice-candidate",
                               {"candidate": end_of_candidates(mid), "to": self.remote_sid})
        self._step(f"{_count(self.candidates_sent, 'candidate')} sent")

    async def offer(self) -> None:
        """Step 3: create the connection's offer and send it (the one already in voice)."""
        self.attach_voice()
        await self._describe(await self.pc.createOffer(), "webrtc-offer")

    async def set_remote(self, description: dict | RTCSessionDescription) -> None:
        """``pc.setRemoteDescription(description)`` for a description as the server relays it
        (``{"type": ..., "sdp": ...}``), with its loopback candidates only (in a class: those
        in the person's :class:`~talklab.address.Scope`); then the trickled candidates that
        arrived before it (aiortc would drop them). Like a browser's, it refuses a description
        of the wrong kind for the connection's signaling state (:class:`InvalidStateError`):
        an answer on a connection that made no offer, say."""
        kind, sdp = _remote(description)
        if self._own_ufrag() in _ufrags(sdp):
            raise TypeError(
                f"set_remote applies a description that arrived from {self.remote_name}; this "
                f"{kind} was made by this connection itself (it carries this connection's own "
                "ICE username fragment). Which of set_local and set_remote applies a "
                "description this side made?")
        async with self._chain:
            _allowed(self.pc.signalingState, "remote", kind, self.remote_name)
            with _aiortc.gathering_on(self.config.host):  # (an answerer's agent is made here)
                await self.pc.setRemoteDescription(RTCSessionDescription(
                    loopback_only(sdp, self.config.scope), kind))
            await self.remote_candidates.remote_description_set()

    def _own_ufrag(self) -> str | None:
        """This connection's own ICE username fragment (once it has a transport)."""
        for transceiver in self.pc.getTransceivers():
            transport = transceiver.sender.transport
            if transport is not None:
                return str(transport.transport.iceGatherer.getLocalParameters().usernameFragment)
        return None

    async def on_offer(self, offer: dict) -> None:
        """Step 5: apply the offer, answer it (the newcomer)."""
        self._step("offer received")
        await self.set_remote(offer)
        self.attach_voice()
        await self._describe(await self.pc.createAnswer(), "webrtc-answer")

    async def on_answer(self, answer: dict) -> None:
        """Step 7: apply the answer."""
        self._step("answer received")
        await self.set_remote(answer)

    async def on_candidate(self, candidate: dict) -> None:
        """Step 8, arriving: the other side's route, applied once its description is."""
        before = self.remote_candidates.received
        await self.remote_candidates.add(candidate)
        if self.remote_candidates.received > before and self.remote_candidates.received == 1:
            self._step("first candidate received")
        if self.remote_candidates.ended:
            self._step(f"{_count(self.remote_candidates.received, 'candidate')} received")

    async def add_ice_candidate(self, candidate: dict) -> None:
        """The seed's ``pc.addIceCandidate(new RTCIceCandidate(candidate))`` (Step 8), for a
        candidate as the server relays it (``{"candidate", "sdpMid", "sdpMLineIndex"}``; an
        empty ``candidate`` ends them).

        As in a browser, it waits its turn behind the descriptions already on their way into
        this connection (the operations chain: an offer that arrived just before it is applied
        first), and then refuses with :class:`InvalidStateError` if the connection still has no
        remote description: a candidate belongs to a description, and one that came first has
        nothing to be checked against."""
        if not isinstance(candidate, dict) or not isinstance(candidate.get("candidate"), str):
            raise TypeError(_not_a_candidate(candidate))
        async def add() -> None:
            async with self._chain:
                if self.pc.remoteDescription is None:
                    raise InvalidStateError(
                        "Failed to execute 'addIceCandidate' on 'RTCPeerConnection': The "
                        f"remote description was null. (This connection, with "
                        f"{self.remote_name}, has not applied {self.remote_name}'s offer or "
                        "answer yet: a candidate can only be checked against a remote "
                        "description.)")
            await self.on_candidate(candidate)

        await self.queued(add)

    async def queued(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` in this link's turn (after the messages already queued for it) and
        return, or raise, what it did."""
        if self._closed:
            raise InvalidStateError(f"the connection with {self.remote_name} is closed")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.add(done)

        async def run() -> None:
            try:
                await job()
            except Exception as exc:  # (to whoever waits for it, not the link's own error)
                if not done.done():
                    done.set_exception(exc)
            else:
                if not done.done():
                    done.set_result(None)

        self.do(run)
        try:
            await done
        finally:
            self._waiting.discard(done)

    # -- what it can tell ------------------------------------------------------------------------
    async def stats(self) -> LinkStats:
        """Counters from aiortc's ``getStats()``: what a browser's webrtc-internals shows."""
        report = await self.pc.getStats() if not self._closed else {}
        values: dict[str, Any] = {"packets_sent": 0, "packets_received": 0, "packets_lost": 0,
                                  "bytes_sent": 0, "bytes_received": 0, "jitter": 0.0,
                                  "rtt": None, "lost_by_them": 0}
        for stat in report.values():
            if stat.type == "inbound-rtp":
                values.update(packets_received=stat.packetsReceived,
                              packets_lost=max(0, stat.packetsLost),
                              jitter=stat.jitter / SAMPLE_RATE)  # RTP clock units -> s
            elif stat.type == "outbound-rtp":
                values["packets_sent"] = stat.packetsSent
            elif stat.type == "remote-inbound-rtp":
                values.update(rtt=stat.roundTripTime, lost_by_them=max(0, stat.packetsLost))
            elif stat.type == "transport":
                values.update(bytes_sent=stat.bytesSent, bytes_received=stat.bytesReceived)
        return LinkStats(t=time.monotonic(), state=self.state, route=self.route, **values)

    def packets(self) -> tuple[int, int]:
        """``(sent, received)`` RTP packets so far: the counters ``getStats()`` reports as
        ``packetsSent`` and ``packetsReceived``, read at once, without awaiting. A busy room's
        ``getStats()`` waits its turn on the loop; a measurement of that room must not."""
        return access.rtp_packets(self.pc)

    # -- the end --------------------------------------------------------------------------------
    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._work.put_nowait(None)
        self._worker.cancel()
        for waiting in list(self._waiting):  # their turn will never come: say so
            if not waiting.done():
                waiting.set_exception(InvalidStateError(
                    f"the connection with {self.remote_name} was closed"))
        await cancel_and_wait(self._worker)
        await cancel_and_wait(self._trickling, Exception)
        await self.ear.stop()
        if self._track is not None:
            self._track.stop()
        await self.pc.close()
        self._step("closed")

    def __repr__(self) -> str:
        return f"<Link {self.local_name}->{self.remote_name} {self.state} {self.route}>"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- the browser's rules for descriptions, and what they say to a learner -------------------------
# JSEP's signaling states (RFC 8829, 3.2; W3C webrtc, 4.3.1): which description may be set in
# which state. aiortc enforces the same table; talklab says which side and why.
ALLOWED = {("local", "offer"): ("stable", "have-local-offer"),
           ("local", "answer"): ("have-remote-offer", "have-local-pranswer"),
           ("remote", "offer"): ("stable", "have-remote-offer"),
           ("remote", "answer"): ("have-local-offer", "have-remote-pranswer")}


def _allowed(state: str, side: str, kind: str, other: str) -> None:
    """Refuse, as a browser does (``InvalidStateError``), a ``side`` (local/remote)
    description of ``kind`` in signaling state ``state``, saying what that state means."""
    allowed = ALLOWED.get((side, kind))
    if allowed is None or state in allowed:
        return
    meaning = {"stable": f"this connection with {other} has no offer under way (none made "
                         "on it, none received, or the last exchange is complete)",
               "have-local-offer": f"this connection has made its own offer to {other} and "
                                   "is waiting for the answer to it",
               "have-remote-offer": f"this connection has applied {other}'s offer and owes "
                                    "an answer to it"}.get(state, f"it is in state {state!r}")
    action = "setLocalDescription" if side == "local" else "setRemoteDescription"
    raise InvalidStateError(
        f"Failed to execute '{action}' on 'RTCPeerConnection': Failed to set {side} {kind} "
        f"sdp: Called in wrong state: {state}. (Signaling state {state!r}: {meaning}.)")


def _remote(description: Any) -> tuple[str, str]:
    """A remote description's type and SDP, from what the server relays (or an
    ``RTCSessionDescription``); anything else is refused saying what it was."""
    if isinstance(description, RTCSessionDescription):
        return description.type, description.sdp
    if isinstance(description, dict) and isinstance(description.get("type"), str) \
            and isinstance(description.get("sdp"), str):
        return description["type"], description["sdp"]
    if isinstance(description, dict):
        return _refuse(f"set_remote takes a description, {{\"type\", \"sdp\"}}, and got a dict "
                       f"with the keys {sorted(description)}: the whole message, or a "
                       "part of it that is not a description?")
    return _refuse(f"set_remote takes a description, {{\"type\", \"sdp\"}} as the server "
                   f"relays it, and got {type(description).__name__} {_short(description)}")


def _ufrags(sdp: str) -> set[str]:
    return {line.split(":", 1)[1].strip() for line in sdp.splitlines()
            if line.startswith("a=ice-ufrag:")}


def _refuse(message: str) -> Any:
    raise TypeError(message)


def _not_local(description: Any) -> str:
    if isinstance(description, dict) and "type" in description:
        return (f"set_local takes a description this connection created itself (what "
                f"createOffer() or createAnswer() returned), and got a dict, "
                f"{_short(description)}: a description as the server relays it, from the "
                "other side. Which side made it, and which of set_local and set_remote applies "
                "a description made by the other side?")
    return (f"set_local takes the RTCSessionDescription that createOffer() or createAnswer() "
            f"returned (awaited), and got {type(description).__name__} {_short(description)}")


def _not_a_candidate(candidate: Any) -> str:
    if isinstance(candidate, dict) and "candidate" in candidate and isinstance(
            candidate["candidate"], dict):
        return ("add_ice_candidate takes the candidate itself, {\"candidate\": \"candidate:...\", "
                "\"sdpMid\", \"sdpMLineIndex\"}, and got the whole message around it")
    keys = f" with the keys {sorted(candidate)}" if isinstance(candidate, dict) else ""
    return (f"add_ice_candidate takes a candidate as the server relays it, {{\"candidate\": "
            f"\"candidate:...\", \"sdpMid\", \"sdpMLineIndex\"}}, and got "
            f"{type(candidate).__name__}{keys or ' ' + _short(candidate)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
