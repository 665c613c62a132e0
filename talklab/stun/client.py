"""One Binding request, sent and answered for real, kept as bytes for :func:`dissect`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aioice import stun

from ..address import Address


@dataclass
class Exchange:
    request: bytes
    response: bytes | None  # None: no answer (a NAT's filter dropped it, say)
    local: Address  # where we sent from
    origin: Address | None  # where the answer came from


async def binding(server: Address, *, host=None, change: int = 0,
                  timeout: float = 1.0) -> Exchange:
    """Ask ``server`` "what's my public address?" from ``host`` (a :class:`talklab.nat.Host`;
    behind its NAT if it has one). ``change`` is RFC 5780's CHANGE-REQUEST (4: IP, 2: port)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            if not answer.done():
                answer.set_result((data, addr[:2]))

    address = host.address if host is not None else "127.0.0.1"
    transport, protocol = await loop.create_datagram_endpoint(Client, local_addr=(address, 0))
    sender: Any = transport
    if host is not None and host.nat is not None:
        from ..nat.network import NatTransport
        sender = NatTransport(transport, host, protocol.datagram_received)
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    if change:
        request.attributes["CHANGE-REQUEST"] = change
    data = bytes(request)
    try:
        sender.sendto(data, server)
        try:
            response, origin = await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            response, origin = None, None
        return Exchange(data, response, transport.get_extra_info("sockname")[:2], origin)
    finally:
        transport.close()
