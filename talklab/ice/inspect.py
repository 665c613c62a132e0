"""What ICE decided, read from a live aiortc connection.

aiortc's ``getStats()`` has no candidate-pair entries (aiortc issue #1435), so talklab reads
the aioice agent underneath: ``RTCIceTransport._connection`` is the ``aioice.Connection`` and
``_nominated[component]`` is the pair ICE selected (RFC 8445, section 8.1.1).
"""

from __future__ import annotations

from aioice import Connection
from aioice.ice import CandidatePair
from aiortc import RTCPeerConnection


def ice_connection(pc: RTCPeerConnection) -> Connection | None:
    """The aioice agent behind the (single, bundled) audio transport of ``pc``."""
    for transceiver in pc.getTransceivers():
        transport = transceiver.sender.transport
        if transport is not None:
            return transport.transport._connection
    return None


def selected_pair(pc: RTCPeerConnection) -> CandidatePair | None:
    """The nominated candidate pair of component 1 (RTP), once ICE has chosen one."""
    connection = ice_connection(pc)
    if connection is None:
        return None
    return connection._nominated.get(1)


def route_of(pair: CandidatePair | None) -> str | None:
    """How audio travels on ``pair``: ``relay`` if either side is a TURN relay candidate, else
    ``srflx`` or ``prflx`` if either side was learnt through STUN or a check, else ``host``."""
    if pair is None:
        return None
    types = {pair.local_candidate.type, pair.remote_candidate.type}
    for kind in ("relay", "srflx", "prflx"):
        if kind in types:
            return kind
    return "host"
