"""Taps: what a person's machine sends and receives, told to a capture listening on it
(:class:`talklab.media_plane.capture.Capture`, set as the machine's ``tap``).

Wireshark on a laptop sees that laptop's sockets: talklab's equivalent is a
:class:`talklab.nat.Host` (the simulated machine a person gathers on) whose ``tap`` is set.
Every socket an ICE agent opens on a host is noted with it (:func:`socket_made`, called by
:mod:`.gathering` where it already wraps sockets), so a capture started in the middle of a
call sees it too:

* **the wire**: every datagram a host socket sends (:class:`TappedTransport`) or receives
  (:func:`received`), with the socket's address: STUN checks, DTLS, SRTP and SRTCP; behind a
  TURN relay, what the TURN client's socket exchanges with the server (Allocate requests,
  ChannelData), never the relayed datagrams a second time;
* **the clear**: each RTP and RTCP packet an ``RTCDtlsTransport`` protects
  (``_send_rtp``) or has unprotected (``_handle_rtp_data``, ``_handle_rtcp_data``), with the
  addresses of the call's selected candidate pair;
* **the handshake**: its start and end (told by :mod:`.dtls`, around ``RTCDtlsTransport.start``),
  the end with the TLS key-log line (``CLIENT_RANDOM``, NSS's format) read from the
  connection (:func:`key_log_line`: pyOpenSSL's ``client_random`` and ``master_key``, DTLS
  1.2's master secret).

With no ``tap`` set, each costs an attribute lookup per packet: a lab that captures nothing
pays nothing more (``bench/mesh_cpu.py``).

Tested in tests/test_capture.py (a two-person call recorded, read back by tshark).
"""

from __future__ import annotations

import time
from typing import Any

import aioice.turn
from aiortc.rtcdtlstransport import RTCDtlsTransport

from talklab._aiortc.registry import patch, stock

Address = tuple[str, int]


def _tap(host: Any) -> Any:
    return getattr(host, "tap", None)


class TappedTransport:
    """Stands in for a host socket's transport: tells its host's tap what it sends."""

    def __init__(self, transport: Any, host: Any, sockname: Address) -> None:
        self._transport, self._host, self._sockname = transport, host, sockname
        self._peer = transport.get_extra_info("peername")  # a TURN client's: its server

    def sendto(self, data: bytes, addr: Address | None = None) -> None:
        tap = self._host.tap
        to = addr or self._peer
        if tap is not None and to is not None:
            tap.wire(time.time(), self._sockname, (to[0], to[1]), data, True)
        if addr is None:
            self._transport.sendto(data)
        else:
            self._transport.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def socket_made(protocol: Any, transport: Any, host: Any, sockname: Address) -> Any:
    """A host socket of ``host`` (an ICE agent's, or a TURN client's) was opened on
    ``sockname``: note it, and return the transport to use (tapped)."""
    if not hasattr(host, "tap"):
        return transport  # gathering on a bare address: no machine to listen on
    protocol._talklab_tap_host = host
    protocol._talklab_sockname = sockname
    return TappedTransport(transport, host, sockname)


def received(protocol: Any, data: bytes, addr: Address) -> None:
    """A datagram reached one of a host's sockets (before anything else looks at it)."""
    tap = _tap(getattr(protocol, "_talklab_tap_host", None))
    if tap is not None:
        tap.wire(time.time(), (addr[0], addr[1]), protocol._talklab_sockname, data, False)


@patch(aioice.turn.TurnClientUdpProtocol, "datagram_received")
def turn_udp_received(self: Any, data: bytes, addr: Address) -> None:
    """What the TURN server sends to the TURN client's socket (ChannelData, responses)."""
    received(self, data, addr)
    stock(aioice.turn.TurnClientUdpProtocol, "datagram_received")(self, data, addr)


# -- the clear and the handshake, at the DTLS transport -----------------------------------------
def dtls_tap(dtls: Any) -> Any:
    """The tap listening on the host of a DTLS transport's ICE agent, or None."""
    return _tap(_dtls_host(dtls))


def _dtls_host(dtls: Any) -> Any:
    """The host a DTLS transport's ICE agent was made for (see :mod:`.checks`)."""
    return getattr(dtls.transport._connection, "_talklab_host", None)


def _pair_addresses(dtls: Any) -> tuple[Address, Address] | None:
    """(our address, theirs) of the candidate pair ICE selected for this transport."""
    pair = dtls.transport._connection._nominated.get(1)
    if pair is None:
        return None
    return (pair.local_candidate.host, pair.local_candidate.port), \
        (pair.remote_addr[0], pair.remote_addr[1])


def _plain(dtls: Any, data: bytes, sent: bool) -> None:
    tap = dtls_tap(dtls)
    if tap is None:
        return
    addresses = _pair_addresses(dtls)
    if addresses is not None:
        ours, theirs = addresses
        tap.plain(time.time(), *((ours, theirs) if sent else (theirs, ours)), data, sent)


@patch(RTCDtlsTransport, "_send_rtp")
async def send_rtp(self: RTCDtlsTransport, data: bytes) -> None:
    """An RTP or RTCP packet, before SRTP protects it."""
    _plain(self, data, sent=True)
    await stock(RTCDtlsTransport, "_send_rtp")(self, data)


@patch(RTCDtlsTransport, "_handle_rtp_data")
async def handle_rtp_data(self: RTCDtlsTransport, data: bytes, arrival_time_ms: int) -> None:
    """An RTP packet SRTP has unprotected."""
    _plain(self, data, sent=False)
    await stock(RTCDtlsTransport, "_handle_rtp_data")(self, data, arrival_time_ms)


@patch(RTCDtlsTransport, "_handle_rtcp_data")
async def handle_rtcp_data(self: RTCDtlsTransport, data: bytes) -> None:
    """An RTCP compound packet SRTCP has unprotected."""
    _plain(self, data, sent=False)
    await stock(RTCDtlsTransport, "_handle_rtcp_data")(self, data)


def key_log_line(dtls: Any) -> bytes | None:
    """The NSS key-log line of a DTLS 1.2 connection whose handshake completed (None before):
    ``CLIENT_RANDOM <client random, hex> <master secret, hex>``."""
    ssl = dtls._ssl
    if ssl is None or not dtls.encrypted:
        return None
    random, secret = ssl.client_random(), ssl.master_key()
    if not random or not secret:
        return None
    return f"CLIENT_RANDOM {random.hex()} {secret.hex()}\n".encode()
