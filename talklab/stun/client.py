"""Binding requests, sent and answered for real, kept as bytes for :func:`dissect`.

:func:`binding` asks once, from a fresh socket; :func:`bindings` asks several servers from one
and the same socket, which is what shows a NAT's *mapping* behaviour: does the host keep its
public port whoever it asks (RFC 4787, 4.1)?

Tested in tests/test_exercises_04.py (one socket asking two servers shows a NAT's mapping) and
tests/test_classroom.py (a class's STUN server answers the class only).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aioice import stun

from talklab.address import Address
from talklab.tasks import within


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
    (exchange,) = await bindings([server], host=host, change=change, timeout=timeout)
    return exchange


async def bindings(servers: list[Address], *, host=None, change: int = 0,
                   timeout: float = 1.0) -> list[Exchange]:
    """Ask each of ``servers`` in turn, all from one socket of ``host``: one :class:`Exchange`
    each, in order (``response`` None where no answer came within ``timeout``)."""
    loop = asyncio.get_running_loop()
    answers: dict[bytes, asyncio.Future] = {}  # transaction ID -> its answer

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            future = answers.get(bytes(data[8:20]))  # the transaction ID's place
            if future is not None and not future.done():
                future.set_result((data, addr[:2]))

    address = host.address if host is not None else "127.0.0.1"
    transport, protocol = await loop.create_datagram_endpoint(Client, local_addr=(address, 0))
    sender: Any = transport
    if host is not None and host.nat is not None:
        from talklab.nat.network import NatTransport
        sender = NatTransport(transport, host, protocol.datagram_received)
    local = transport.get_extra_info("sockname")[:2]
    exchanges = []
    try:
        for server in servers:
            request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
            if change:
                request.attributes["CHANGE-REQUEST"] = change
            data = bytes(request)
            answers[request.transaction_id] = answer = loop.create_future()
            sender.sendto(data, server)
            try:
                response, origin = await within(answer, timeout)
            except TimeoutError:
                response, origin = None, None
            exchanges.append(Exchange(data, response, local, origin))
        return exchanges
    finally:
        transport.close()
