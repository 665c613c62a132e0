"""One ``RTCPeerConnection`` between a person and Janus: a :class:`JanusLink`.

In the mesh, each link joins two people. With a server in the middle, every link joins a
person to Janus, and carries one of three things:

* ``publish`` (SFU, up): the person's voice to the VideoRoom, which forwards it unchanged;
* ``subscribe`` (SFU, down): one other person's voice, forwarded by the VideoRoom (Janus
  makes the offer: the person answers);
* ``mix`` (MCU, both ways): the person's voice up to the AudioBridge, and one stream down,
  the AudioBridge's mix of everyone else.

A link is a real aiortc peer connection with ``iceServers=[]`` (never a public STUN server)
that gathers on the person's loopback address (:func:`talklab._aiortc.gathering_on`); every
received track is read by an :class:`~talklab.browser.hearing.Ear`. No trickle is needed: aiortc
writes its candidates into its SDP, and Janus, in its default "half-trickle" mode, writes its
own into the SDP it sends. Every SDP Janus sent is kept (:attr:`JanusLink.janus_sdps`): the
proof that Janus told us only loopback addresses.

Tested in tests/test_janus_room.py (every link of an SFU and an MCU room: its state, by kind, and
every SDP Janus sent, with loopback candidates only).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from talklab import _aiortc
from talklab._aiortc import access
from talklab.browser.hearing import Ear
from talklab.ice import route_of, selected_pair
from talklab.ice.trickle import loopback_only
from talklab.janus.client import Handle
from talklab.tasks import within

KINDS = ("publish", "subscribe", "mix")


@dataclass(frozen=True)
class LinkCounters:
    """One reading of a link's RTP counters (cumulative; take differences for rates)."""

    t: float  # time.monotonic()
    state: str
    streams_up: int  # outgoing RTP streams that have sent packets
    streams_down: int  # incoming RTP streams that have received packets
    packets_sent: int
    packets_received: int
    packets_lost: int
    bytes_sent: int  # everything the link's transport sent (RTP, RTCP, DTLS, STUN)
    bytes_received: int


class JanusLink:
    """One peer connection between ``person`` and Janus; ``voice_of`` names whose voice it
    brings down (a subscribed feed's display name, or ``"mix"``)."""

    def __init__(self, person: str, kind: str, *, voice_of: str | None = None,
                 host: str = "127.0.0.1",
                 on_change: Callable[[JanusLink], None] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"a Janus link is one of {KINDS}, not {kind!r}")
        self.person = person
        self.kind = kind
        self.voice_of = voice_of
        self.host = host
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # never None: Google
        self.ear: Ear | None = Ear() if kind != "publish" else None
        self.handle: Handle | None = None
        self.feed: int | None = None  # the VideoRoom feed id this link carries (SFU)
        self.janus_sdps: list[str] = []  # every SDP Janus sent on this link, as received
        self.timeline: list[tuple[float, str]] = []
        self.error: str | None = None
        self.dtls_server = True  # when answering Janus's offer (see :meth:`answer`)
        self._closed = False
        self._confirmed = False  # Janus has reported receiving our packets (see up_state)
        self._on_change = on_change or (lambda link: None)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)
        if self.ear is not None:
            self.ear.on_first_frame = lambda: self.step("first audio frame")

    # -- the story ---------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        """How a drawing names this link: ``publish``, ``from Bob``, ``mix``."""
        if self.kind == "subscribe":
            return f"from {self.voice_of}"
        return self.kind

    @property
    def direction(self) -> str:
        """``up`` (person to Janus), ``down`` (Janus to person) or ``both``."""
        return {"publish": "up", "subscribe": "down", "mix": "both"}[self.kind]

    def step(self, what: str) -> None:
        self.timeline.append((time.monotonic(), what))
        self._on_change(self)

    def steps(self) -> list[str]:
        return [what for _, what in self.timeline]

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self.ear is not None:  # (a publish link receives nothing: it is send-only)
            self.ear.listen(track)

    def _on_state(self) -> None:
        self.step(f"connection {self.pc.connectionState}")

    @property
    def state(self) -> str:
        """``connected`` once ICE and DTLS are up and, for a link that receives, once audio
        has arrived (as for the mesh's links: a line drawn connected has carried sound)."""
        if self._closed:
            return "closed"
        state: str = self.pc.connectionState
        if state == "connected" and self.ear is not None and not self.ear.heard:
            return "connecting"
        return state

    @property
    def up_state(self) -> str:
        """The state of the stream this link sends up (``publish``, ``mix``): ``connected``
        only once Janus has reported, in an RTCP receiver report, that our packets arrive (so
        an arrow drawn up to Janus as connected has carried sound too)."""
        state = "closed" if self._closed else str(self.pc.connectionState)
        if state == "connected" and not self.confirmed:
            return "connecting"
        return state

    @property
    def confirmed(self) -> bool:
        """Janus has told us (RTCP receiver report) that it receives our packets."""
        for sender in self.pc.getSenders():
            stats = access.sender_stats(sender)
            if any(s.type == "remote-inbound-rtp" and s.packetsReceived > 0
                   for s in stats.values()):
                return True
        return False

    @property
    def remote_name(self) -> str:
        """Whose voice comes down this link (a subscribed feed's name, ``mix``), or Janus's."""
        return self.voice_of or "Janus"

    @property
    def route(self) -> str | None:
        return route_of(selected_pair(self.pc))

    @property
    def closed(self) -> bool:
        return self._closed

    # -- offer / answer ----------------------------------------------------------------------------
    async def _set_local(self, description: RTCSessionDescription) -> None:
        with _aiortc.gathering_on(self.host):
            await self.pc.setLocalDescription(description)

    def _jsep(self) -> dict[str, str]:
        local = self.pc.localDescription
        return {"type": local.type, "sdp": local.sdp}

    async def offer(self, track: MediaStreamTrack, receive: bool) -> dict[str, str]:
        """Our offer, sending ``track`` (and receiving one stream when ``receive``)."""
        transceiver = self.pc.addTransceiver(track, direction="sendrecv" if receive
                                             else "sendonly")
        self._watch_reports(transceiver.sender)
        await self._set_local(await self.pc.createOffer())
        self.step("offer made")
        return self._jsep()

    def _watch_reports(self, sender: Any) -> None:
        """Note the first RTCP receiver report from Janus about our stream ("Janus receives
        our audio"), so that waiting for it is waiting for an event: looked at after the
        sender has handled each RTCP packet (:func:`talklab._aiortc.access.after_rtcp`)."""
        def note(packet: Any) -> None:
            if not self._confirmed and self.confirmed:
                self._confirmed = True
                self.step("Janus receives our audio")
        access.after_rtcp(sender, note)

    async def accept(self, jsep: dict[str, Any]) -> None:
        """Apply Janus's answer to our offer."""
        await self._set_remote(jsep)
        self.step("answer applied")

    async def answer(self, jsep: dict[str, Any]) -> dict[str, str]:
        """Answer Janus's offer (a subscription): receive only, and, with ``dtls_server``,
        as the DTLS server (``a=setup:passive``, RFC 5763, 5): Janus, the client, then sends
        the first handshake message once it is ready, instead of aiortc sending one Janus may
        drop (a 1 s retransmission; see :mod:`talklab.janus.sfu`). aiortc has no public way to
        choose this role (:func:`talklab._aiortc.access.set_dtls_role`)."""
        await self._set_remote(jsep)
        for transceiver in self.pc.getTransceivers():
            transceiver.direction = "recvonly"
            if self.dtls_server:  # answer a=setup:passive: Janus starts the handshake
                access.set_dtls_role(transceiver.receiver.transport, "server")
        await self._set_local(await self.pc.createAnswer())
        self.step("answer made")
        return self._jsep()

    async def _set_remote(self, jsep: dict[str, Any]) -> None:
        sdp = str(jsep["sdp"])
        self.janus_sdps.append(sdp)  # as Janus wrote it: the loopback proof reads this
        await self.pc.setRemoteDescription(RTCSessionDescription(loopback_only(sdp),
                                                                 str(jsep["type"])))

    # -- what it can tell --------------------------------------------------------------------------
    async def counters(self) -> LinkCounters:
        """RTP counters from aiortc's ``getStats()``."""
        report = await self.pc.getStats() if not self._closed else {}
        up = down = sent = received = lost = bytes_sent = bytes_received = 0
        for stat in report.values():
            if stat.type == "outbound-rtp" and stat.packetsSent > 0:
                up += 1
                sent += stat.packetsSent
            elif stat.type == "inbound-rtp" and stat.packetsReceived > 0:
                down += 1
                received += stat.packetsReceived
                lost += max(0, stat.packetsLost)
            elif stat.type == "transport":
                bytes_sent += stat.bytesSent
                bytes_received += stat.bytesReceived
        return LinkCounters(time.monotonic(), self.state, up, down, sent, received, lost,
                            bytes_sent, bytes_received)

    def packets(self) -> tuple[int, int]:
        """``(sent, received)`` RTP packets so far, read at once (see
        :meth:`talklab.browser.link.Link.packets`)."""
        return access.rtp_packets(self.pc)

    # -- the end -----------------------------------------------------------------------------------
    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.ear is not None:
            await self.ear.stop()
        for sender in self.pc.getSenders():
            if sender.track is not None:
                sender.track.stop()
        with contextlib.suppress(Exception):  # a half-made connection may fail to close
            await within(self.pc.close(), 5)
        if self.handle is not None:
            await self.handle.detach()
        self.step("closed")

    def __repr__(self) -> str:
        return f"<JanusLink {self.person} {self.label} {self.state}>"
