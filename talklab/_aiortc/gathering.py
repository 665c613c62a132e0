"""Adjustments 1-3: where a person's ICE agent gathers, and what its sockets may send and hear.

All of them key on :data:`~talklab._aiortc.HOST`, which is set only inside
:func:`~talklab._aiortc.gathering_on` (around a lab person's ``setLocalDescription``): any other
gathering, in the same process, is aioice's own.

Tested in tests/test_aiortc_adjustments.py (host addresses from the context, a peer connection
gathering on its loopback address only, an agent dropping datagrams from outside loopback, hosts
behind simulated NATs).
"""

from __future__ import annotations

import functools
from typing import Any, cast

import aioice.ice
import aioice.turn

from talklab._aiortc import taps
from talklab._aiortc.registry import HOST, patch, stock
from talklab.address import is_loopback


@functools.lru_cache(maxsize=4096)
def _loopback(ip: str) -> bool:
    """:func:`~talklab.address.is_loopback`, remembered: it runs for every datagram."""
    return is_loopback(ip)


@patch(aioice.ice, "get_host_addresses")
def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """1. The person's own loopback address (``Connection.gather_candidates`` looks this
    function up at call time), instead of every interface but loopback."""
    host = HOST.get()
    if host is None:
        result: list[str] = stock(aioice.ice, "get_host_addresses")(use_ipv4, use_ipv6)
        return result
    return [host if isinstance(host, str) else host.address]


@patch(aioice.ice.Connection, "gather_candidates")
async def gather_candidates(self: aioice.ice.Connection) -> None:
    """1. A lab person's ICE agent gathers as the host it was made for (its person's address,
    maybe behind a NAT), whoever asks it to: talklab's ``set_local``, or a learner's handler
    calling the browser's ``pc.setLocalDescription`` directly. It never gathers on this
    machine's other interfaces."""
    host = getattr(self, "_talklab_host", None)
    if host is None or HOST.get() is not None:
        await stock(aioice.ice.Connection, "gather_candidates")(self)
        return
    token = HOST.set(host)
    try:
        await stock(aioice.ice.Connection, "gather_candidates")(self)
    finally:
        HOST.reset(token)


@patch(aioice.ice.StunProtocol, "connection_made")
def connection_made(self: aioice.ice.StunProtocol, transport: Any) -> None:
    """3. Behind a simulated NAT, the socket's transport is wrapped so that what it sends leaves
    from the NAT's public address. (A TURN relay's transport is the relay's, not our socket.)"""
    host = HOST.get()
    if host is not None:
        address = host if isinstance(host, str) else host.address
        self._talklab_loopback = is_loopback(address)  # type: ignore[attr-defined]
        relayed = isinstance(transport, aioice.turn.TurnTransport)
        nat = getattr(host, "nat", None)
        sockname = None if relayed else transport.get_extra_info("sockname")
        if nat is not None and not relayed:
            from talklab.nat.network import NatTransport  # (talklab.nat imports nothing from here)
            self._talklab_host = host  # type: ignore[attr-defined]
            received = stock(aioice.ice.StunProtocol, "datagram_received")

            def through_nat(data: bytes, addr: tuple[Any, ...]) -> None:
                taps.received(self, data, addr)
                received(self, data, addr)
            transport = NatTransport(transport, host, through_nat)
        if sockname is not None:  # (a relay's datagrams are seen at its TURN client's socket)
            transport = taps.socket_made(self, transport, host, sockname[:2])
    stock(aioice.ice.StunProtocol, "connection_made")(self, transport)


@patch(aioice.ice.StunProtocol, "datagram_received")
def datagram_received(self: aioice.ice.StunProtocol, data: bytes | str,
                      addr: tuple[Any, ...]) -> None:
    """2. and 3. An agent gathering on loopback hears only loopback; a host behind a NAT hears,
    on its private address, only its own LAN (the rest must come through the NAT)."""
    taps.received(self, cast(bytes, data), addr)  # (what reached the socket, heard or not)
    if getattr(self, "_talklab_loopback", False) and not _loopback(addr[0]):
        dropped = getattr(self, "talklab_dropped_outside", 0)
        self.talklab_dropped_outside = dropped + 1  # type: ignore[attr-defined]
        return
    host = getattr(self, "_talklab_host", None)
    if host is not None and not host.can_hear(addr[0]):
        return  # from outside this host's LAN, straight to its private address: no route
    stock(aioice.ice.StunProtocol, "datagram_received")(self, data, addr)


@patch(aioice.turn.TurnClientUdpProtocol, "connection_made")
def turn_udp_connection_made(self: Any, transport: Any) -> None:
    """3. Behind a UDP-blocking firewall, note it: the UDP TURN client will send nothing."""
    host = HOST.get()
    nat = getattr(host, "nat", None)
    self._talklab_blocked = bool(nat is not None and nat.blocks_udp)
    if host is not None:
        transport = taps.socket_made(self, transport, host,
                                     transport.get_extra_info("sockname")[:2])
    stock(aioice.turn.TurnClientUdpProtocol, "connection_made")(self, transport)


@patch(aioice.turn.TurnClientUdpProtocol, "_send")
def turn_udp_send(self: Any, data: bytes) -> None:
    if getattr(self, "_talklab_blocked", False):
        return  # the firewall lets no UDP out
    stock(aioice.turn.TurnClientUdpProtocol, "_send")(self, data)
