"""The few, documented adjustments talklab makes to aiortc and aioice. Each has a test.

1. **Host candidates on loopback.** ``aioice.ice.get_host_addresses`` skips 127.0.0.1 and ::1,
   so on a machine with only ``lo`` (Binder, CI) nothing is gathered and a connection waits in
   ``new`` forever. Each talklab person instead gathers on its own loopback address
   (127.10.x.y), given through a context variable around ``setLocalDescription``: that is where
   aiortc gathers, and ``Connection.gather_candidates`` looks the function up at call time. A
   gathering without a talklab address falls back to aioice's own function.

2. **Loopback only, inbound too.** A browser on the same machine sends connectivity checks from
   its other interfaces as well (Chromium binds every interface). aioice would learn such a
   source as a peer-reflexive candidate (RFC 8445, 7.3.1.3) and answer it: a packet to a
   non-loopback address. ``StunProtocol.datagram_received`` of an agent that gathers on
   loopback drops datagrams from outside 127.0.0.0/8 and ::1. (Received candidates are
   filtered the same way in :mod:`talklab.ice.trickle`.)

3. **Simulated NATs.** When the gathering host sits behind a simulated NAT
   (:mod:`talklab.nat`), ``StunProtocol.connection_made`` receives a
   :class:`~talklab.nat.network.NatTransport` instead of the socket's own transport, so every
   packet it sends to the outside leaves from the NAT's public address; packets arriving at the
   private socket from outside its LAN are dropped, as a real NAT's private side never sees
   them. (aioice's TURN client sockets are not translated: they reach the TURN server as they
   are, which changes nothing ICE can observe; but behind a UDP-blocking firewall its UDP TURN
   client sends nothing, so only TURN over TCP gets out.)

4. **Failing fast.** aioice retransmits a check 6 times with a doubling RTO (63.5 s before a
   pair fails). :func:`set_check_retries` lowers ``aioice.stun.RETRY_MAX`` (read at call time)
   so lessons declare failure in seconds; talklab uses 3 (7.5 s) while a lab runs.

5. **Check history.** ``Connection.check_state`` is wrapped to note each candidate pair's state
   changes with their times (``pair.talklab_history``), for :func:`talklab.ice.inspect.pairs`.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
from collections.abc import Iterator
from typing import Any

import aioice.ice
import aioice.stun
import aioice.turn

HOST: contextvars.ContextVar[Any] = contextvars.ContextVar("talklab_host", default=None)

_stock_get_host_addresses = aioice.ice.get_host_addresses


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    host = HOST.get()
    if host is None:
        return _stock_get_host_addresses(use_ipv4, use_ipv6)
    return [host if isinstance(host, str) else host.address]


_stock_datagram_received = aioice.ice.StunProtocol.datagram_received
_stock_connection_made = aioice.ice.StunProtocol.connection_made


def _is_loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _datagram_received(self: aioice.ice.StunProtocol, data: bytes, addr: tuple) -> None:
    local = getattr(self, "local_candidate", None)
    if local is not None and _is_loopback(local.host) and not _is_loopback(addr[0]):
        self.dropped_outside = getattr(self, "dropped_outside", 0) + 1
        return
    host = getattr(self, "talklab_host", None)
    if host is not None and not host.can_hear(addr[0]):
        return  # from outside this host's LAN, straight to its private address: no route
    _stock_datagram_received(self, data, addr)


def _connection_made(self: aioice.ice.StunProtocol, transport: Any) -> None:
    host = HOST.get()
    relayed = isinstance(transport, aioice.turn.TurnTransport)  # a TURN relay: not our socket
    if host is not None and not isinstance(host, str) and host.nat is not None and not relayed:
        from .nat.network import NatTransport  # (talklab.nat imports nothing from here)
        self.talklab_host = host
        transport = NatTransport(transport, host,
                                 lambda data, addr: _stock_datagram_received(self, data, addr))
    _stock_connection_made(self, transport)


_stock_check_state = aioice.ice.Connection.check_state


def _check_state(self: aioice.ice.Connection, pair: Any, state: Any) -> None:
    from .ice.inspect import record_check_state
    record_check_state(pair, state)
    _stock_check_state(self, pair, state)


_stock_turn_udp_send = aioice.turn.TurnClientUdpProtocol._send


def _turn_udp_connection_made(self: Any, transport: Any) -> None:
    host = HOST.get()
    nat = getattr(host, "nat", None)
    self.talklab_blocked = bool(nat is not None and nat.blocks_udp)
    aioice.turn.TurnClientMixin.connection_made(self, transport)


def _turn_udp_send(self: Any, data: bytes) -> None:
    if getattr(self, "talklab_blocked", False):
        return  # the firewall lets no UDP out
    _stock_turn_udp_send(self, data)


def set_check_retries(retries: int) -> int:
    """Set how often aioice retransmits a STUN check (its RETRY_MAX); returns the old value."""
    old = aioice.stun.RETRY_MAX
    aioice.stun.RETRY_MAX = retries
    return old


def install() -> None:
    """Apply the adjustments (idempotent; done when talklab is imported)."""
    aioice.ice.get_host_addresses = _get_host_addresses
    aioice.ice.StunProtocol.datagram_received = _datagram_received
    aioice.ice.StunProtocol.connection_made = _connection_made
    aioice.ice.Connection.check_state = _check_state
    aioice.turn.TurnClientUdpProtocol.connection_made = _turn_udp_connection_made
    aioice.turn.TurnClientUdpProtocol._send = _turn_udp_send


@contextlib.contextmanager
def gathering_on(host: Any) -> Iterator[None]:
    """Within this block (and the tasks it starts), ICE gathers as ``host``: a loopback address,
    or a :class:`talklab.nat.Host` (its address, and its NAT if it has one)."""
    token = HOST.set(host)
    try:
        yield
    finally:
        HOST.reset(token)


install()
