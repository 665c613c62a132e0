"""Each adjustment talklab makes to aiortc/aioice (talklab/_aiortc.py), tested on its own."""

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection

from talklab import _aiortc
from talklab.ice import split_candidates


def test_host_addresses_come_from_the_context():
    assert aioice.ice.get_host_addresses is _aiortc._get_host_addresses
    with _aiortc.gathering_on("127.10.9.9"):
        assert aioice.ice.get_host_addresses(True, False) == ["127.10.9.9"]
    # Outside a talklab gathering, aioice's own function answers (it never lists loopback).
    assert "127.10.9.9" not in aioice.ice.get_host_addresses(True, False)


async def test_a_peer_connection_gathers_on_its_loopback_address_only():
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio")
        with _aiortc.gathering_on("127.10.9.8"):
            await pc.setLocalDescription(await pc.createOffer())
        _, candidates = split_candidates(pc.localDescription.sdp)
        assert len(candidates) == 1
        assert " 127.10.9.8 " in candidates[0].text and "typ host" in candidates[0].text
    finally:
        await pc.close()


async def test_an_agent_on_loopback_ignores_datagrams_from_outside():
    seen = []

    class Receiver:
        def data_received(self, data, component):
            seen.append(data)

    protocol = aioice.ice.StunProtocol(Receiver())
    assert aioice.ice.StunProtocol.datagram_received is _aiortc._datagram_received
    protocol.local_candidate = aioice.Candidate(
        foundation="1", component=1, transport="udp", priority=1, host="127.10.0.1", port=1,
        type="host")
    protocol.datagram_received(b"\x80media", ("192.0.2.2", 4000))
    assert seen == [] and protocol.dropped_outside == 1
    protocol.datagram_received(b"\x80media", ("127.10.0.2", 4000))
    assert seen == [b"\x80media"]
