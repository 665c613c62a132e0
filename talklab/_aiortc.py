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
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
from typing import Any, Iterator

import aioice.ice

HOST_ADDRESS: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "talklab_host_address", default=None)

_stock_get_host_addresses = aioice.ice.get_host_addresses


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    address = HOST_ADDRESS.get()
    if address is None:
        return _stock_get_host_addresses(use_ipv4, use_ipv6)
    return [address]


_stock_datagram_received = aioice.ice.StunProtocol.datagram_received


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
    _stock_datagram_received(self, data, addr)


def install() -> None:
    """Apply the adjustments (idempotent; done when talklab is imported)."""
    aioice.ice.get_host_addresses = _get_host_addresses
    aioice.ice.StunProtocol.datagram_received = _datagram_received


@contextlib.contextmanager
def gathering_on(address: str) -> Iterator[None]:
    """Within this block (and the tasks it starts), ICE gathers host candidates on ``address``."""
    token = HOST_ADDRESS.set(address)
    try:
        yield
    finally:
        HOST_ADDRESS.reset(token)


install()
