"""What the rest of talklab reads, or does, below aiortc's and aioice's public API.

aiortc's ``getStats()`` has no candidate or candidate-pair entries (aiortc issue #1435), aioice
has no accessor for the pair it selected, and both keep their packet and byte counters in
private attributes. talklab needs all of them, so they are read here, and only here: every
private name below is an entry of :data:`talklab._aiortc.internals.TABLE`, checked when a lab
starts (a lab never reads a missing counter as zero). Each function is one or two attribute
reads, cheap enough for every measurement.

Tested in tests/test_aiortc_internals.py (every private name read here is an entry of the table,
no other module reads one, and an accessor fails rather than reads zero); what the accessors
read is checked live through talklab.ice.inspect and talklab.lab.load (tests/test_mesh.py,
tests/test_topologies.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aioice import Candidate, Connection
    from aioice.ice import CandidatePair, StunProtocol

    from talklab.media_plane.dtls import DtlsSession


# -- the ICE agent under a peer connection ------------------------------------------------------
def ice_connection(pc: Any) -> Connection | None:
    """The aioice agent behind the (single, bundled) audio transport of ``pc``."""
    for transceiver in pc.getTransceivers():
        transport = transceiver.sender.transport
        if transport is not None:
            connection: Connection = transport.transport._connection
            return connection
    return None


def ice_connections(pc: Any) -> list[Connection]:
    """Every aioice agent of ``pc``, one per transport (talklab's links bundle into one)."""
    agents: list[Connection] = []
    for transceiver in pc.getTransceivers():
        transport = transceiver.sender.transport
        if transport is not None and transport.transport._connection not in agents:
            agents.append(transport.transport._connection)
    return agents


def check_list(connection: Connection) -> list[CandidatePair]:
    """The agent's candidate pairs, in its order (a copy)."""
    return list(connection._check_list)


def selected_pair(connection: Connection, component: int = 1) -> CandidatePair | None:
    """The pair ICE selected for ``component`` (1: RTP), once one is nominated."""
    return connection._nominated.get(component)


def sockets(connection: Connection) -> list[StunProtocol]:
    """The agent's sockets (its host candidates' and its TURN relays'), a copy."""
    return list(connection._protocols)


def add_local_candidate(connection: Connection, candidate: Candidate) -> bool:
    """Make ``candidate`` one of the agent's own (a srflx candidate found after gathering),
    unless it has one of the same type, address and port already. True if it was added."""
    own = connection._local_candidates
    if any((c.type, c.host, c.port) == (candidate.type, candidate.host, candidate.port)
           for c in own):
        return False
    own.append(candidate)
    return True


def refused_certificate(pc: Any) -> bool:
    """Whether ``pc``'s DTLS refused the other end's certificate after the handshake: it did
    not match the ``a=fingerprint`` of their description (see :mod:`talklab._aiortc.dtls`)."""
    from talklab._aiortc.dtls import FINGERPRINT_MISMATCH, refused
    return any(refused(t.sender.transport) == FINGERPRINT_MISMATCH
               for t in pc.getTransceivers() if t.sender.transport is not None)


def dtls_session(pc: Any) -> DtlsSession | None:
    """What the DTLS handshake of ``pc``'s (bundled) transport agreed, once it completed."""
    from talklab._aiortc.dtls import session
    for transceiver in pc.getTransceivers():
        if transceiver.sender.transport is not None:
            return session(transceiver.sender.transport)
    return None


# -- counters, read at once (no await: see talklab.lab.load) -------------------------------
def rtp_packets(pc: Any) -> tuple[int, int]:
    """``(sent, received)`` RTP packets of an ``RTCPeerConnection`` so far: what ``getStats()``
    reports as ``packetsSent`` and ``packetsReceived``, read without awaiting."""
    transceivers = pc.getTransceivers()
    sent = sum(t.sender._RTCRtpSender__packet_count for t in transceivers)
    received = sum(stream.packets_received for t in transceivers
                   for stream in t.receiver._RTCRtpReceiver__remote_streams.values())
    return sent, received


def dtls_bytes(pc: Any) -> tuple[int, int]:
    """``(sent, received)`` bytes of UDP payload of a connection's DTLS transports (SRTP,
    SRTCP, DTLS; STUN is not counted): ``getStats()``'s transport ``bytesSent`` and
    ``bytesReceived``, read at once."""
    transports = {id(t.sender.transport): t.sender.transport for t in pc.getTransceivers()
                  if t.sender.transport is not None}
    sent = sum(t._RTCDtlsTransport__tx_bytes for t in transports.values())
    received = sum(t._RTCDtlsTransport__rx_bytes for t in transports.values())
    return sent, received


def sender_stats(sender: Any) -> dict[str, Any]:
    """An ``RTCRtpSender``'s statistics as its RTCP has updated them, read at once (with the
    ``remote-inbound-rtp`` entries of the receiver reports about its stream)."""
    stats: dict[str, Any] = sender._RTCRtpSender__stats
    return stats


# -- acting on a connection -----------------------------------------------------------------------
def after_rtcp(sender: Any, callback: Callable[[Any], None]) -> None:
    """Call ``callback(packet)`` after ``sender`` has handled each RTCP packet about its
    stream. aiortc hands each one to ``sender._handle_rtcp_packet``, looked up on the instance
    at each call; this wraps that one sender's."""
    handle = sender._handle_rtcp_packet

    async def handle_then_call(packet: Any) -> None:
        await handle(packet)
        callback(packet)
    sender._handle_rtcp_packet = handle_then_call


def set_dtls_role(transport: Any, role: str) -> None:
    """Make an ``RTCDtlsTransport`` the DTLS ``"server"`` or ``"client"`` before the answer is
    made (aiortc has no public way to choose: the answer's ``a=setup`` follows it)."""
    transport._set_role(role)
