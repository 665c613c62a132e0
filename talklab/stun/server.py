"""The mirror: a STUN Binding server (RFC 8489) with RFC 5780 NAT behaviour discovery.

"What's my public IP?" — the server answers with the address and port it saw the request come
from, in XOR-MAPPED-ADDRESS (and the old MAPPED-ADDRESS), signed with FINGERPRINT. To let a
client discover *how* its NAT behaves (RFC 5780), the server listens on two addresses and two
ports: it names its other address in OTHER-ADDRESS, answers a CHANGE-REQUEST from the other
address and/or port (to the port a RESPONSE-PORT names, if any), and says where each answer came
from in RESPONSE-ORIGIN.

:func:`binding_response` is the whole protocol, without sockets (sans-I/O): bytes and addresses
in, bytes and "which of my sockets sends it" out. :class:`StunServer` is the asyncio adapter.
Messages are parsed and built with aioice's ``stun`` module.

Tested in tests/test_stun.py (the Binding server mirrors what it saw and answers RFC 5780's
requests; it survives a fuzz run) and tests/test_coturn.py (coturn's turnutils_stunclient reads its
address from it).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import socket
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ClassVar

from aioice import stun

from talklab._service import Service, serve_forever
from talklab.address import Address
from talklab.notebook import made_by
from talklab.stun.dissect import dissect

SOFTWARE = "talklab-stun"


@dataclass(frozen=True)
class Endpoints:
    """The server's listening points: (ip, port) for each of 2 IPs x 2 ports (RFC 5780, 4.1)."""

    ips: tuple[str, ...]  # primary first; one IP only means no RFC 5780 support
    ports: tuple[int, ...]

    def all(self) -> list[Address]:
        return [(ip, port) for ip in self.ips for port in self.ports]

    @property
    def primary(self) -> Address:
        return self.ips[0], self.ports[0]

    @property
    def discovery(self) -> bool:
        return len(self.ips) == 2 and len(self.ports) == 2

    def other(self, local: Address) -> Address:
        """The server's address that differs from ``local`` in both IP and port."""
        return self.flip(local, ip=True, port=True)

    def flip(self, local: Address, *, ip: bool, port: bool) -> Address:
        i, p = self.ips.index(local[0]), self.ports.index(local[1])
        return self.ips[(i + ip) % len(self.ips)], self.ports[(p + port) % len(self.ports)]


@dataclass
class Reply:
    data: bytes
    send_from: Address
    send_to: Address | None = None  # None: back to the source


def _response_port(data: bytes) -> int | None:
    """RESPONSE-PORT (RFC 5780, 7.5), which aioice does not decode: answer to this port."""
    try:
        d = dissect(data)
    except ValueError:
        return None
    for a in d.attributes:
        if a.name == "RESPONSE-PORT" and len(a.raw) == 4:
            return int.from_bytes(a.raw[:2], "big")
    return None


def binding_response(data: bytes, source: Address, local: Address,
                     endpoints: Endpoints) -> Reply | None:
    """The answer to one datagram, or ``None`` when it deserves none (not a STUN request)."""
    try:
        request = stun.parse_message(data)
    except Exception:  # malformed: a server stays silent (RFC 8489, 6.3)
        return None
    if request.message_class != stun.Class.REQUEST:
        return None
    if request.message_method != stun.Method.BINDING:
        return _error(request, 400, "Bad Request: only Binding here", local)
    send_from = local
    change = request.attributes.get("CHANGE-REQUEST")
    if change and endpoints.discovery:
        send_from = endpoints.flip(local, ip=bool(change & 4), port=bool(change & 2))
    response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE,
                            transaction_id=request.transaction_id)
    response.attributes["XOR-MAPPED-ADDRESS"] = source
    response.attributes["MAPPED-ADDRESS"] = source
    if endpoints.discovery:
        response.attributes["RESPONSE-ORIGIN"] = send_from
        response.attributes["OTHER-ADDRESS"] = endpoints.other(local)
    response.attributes["SOFTWARE"] = SOFTWARE
    response.add_fingerprint()
    port = _response_port(data) if endpoints.discovery else None
    return Reply(bytes(response), send_from, (source[0], port) if port else None)


def _error(request: stun.Message, code: int, reason: str, local: Address) -> Reply:
    response = stun.Message(request.message_method, stun.Class.ERROR,
                            transaction_id=request.transaction_id)
    response.attributes["ERROR-CODE"] = (code, reason)
    response.attributes["SOFTWARE"] = SOFTWARE
    response.add_fingerprint()
    return Reply(bytes(response), local)


@dataclass
class Counters:
    received: int = 0
    answered: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class Answered:
    """One Binding request the server answered: who asked, and what it was told."""

    t: float  # time.monotonic(), when the request arrived
    client: Address  # where the request came from, which is what the answer tells the client
    local: Address  # which of the server's addresses it reached
    delay: float = 0.0  # s the answer waited before it left (a shaped server: see shape())


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, server: StunServer, local: Address) -> None:
        self.server, self.local = server, local
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.server._received(data, addr[:2], self.local)


class StunServer(Service):
    """A Binding server on loopback. With ``alternate_host`` (default 127.0.0.2) it listens on
    2 IPs x 2 ports and supports RFC 5780 discovery; ``port=0`` picks free ports.

    In a notebook, ``server = await StunServer()`` starts it and closes the one the previous
    ``await StunServer()`` started (re-running the cell replaces it, leaking no socket).

    ``clients`` (a function of an IP address) says whom it answers; the others' requests are
    ignored (a class's server answers the class: on loopback, a browser's requests from the
    machine's other interfaces get no answer sent off loopback)."""

    current: ClassVar[StunServer | None] = None

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 alternate_host: str | None = "127.0.0.2", alternate_port: int = 0, *,
                 clients: Callable[[str], bool] | None = None) -> None:
        self.host, self.port = host, port
        self.clients = clients
        self.alternate_host, self.alternate_port = alternate_host, alternate_port
        self.endpoints: Endpoints | None = None
        self.counters = Counters()
        self.answered: deque[Answered] = deque(maxlen=2000)  # the latest, for a notebook
        self._sockets: dict[Address, _Socket] = {}
        self.latency = 0.0  # s each answer waits before it leaves (see shape())
        self.made_by = made_by()  # in a notebook, the cells that made and closed it
        self.closed_by: str | None = None

    @property
    def running(self) -> bool:
        return self.endpoints is not None

    def _endpoints(self) -> Endpoints:
        if self.endpoints is None:
            raise RuntimeError("the STUN server is not running: await server.start() first")
        return self.endpoints

    @property
    def address(self) -> Address:
        return self._endpoints().primary

    @property
    def url(self) -> str:
        """The ``stun:`` URL an RTCIceServer takes."""
        return f"stun:{self.address[0]}:{self.address[1]}"

    async def start(self) -> StunServer:
        if self.endpoints is not None:
            return self
        fixed = self.port and (self.alternate_port or not self.alternate_host)
        for attempt in range(20):  # a free port on one IP may be taken on the other: retry
            try:
                self.endpoints = await self._bind_all()
                return self
            except OSError:
                await self.close()
                if fixed or attempt == 19:
                    raise
        return self

    async def _bind_all(self) -> Endpoints:
        loop = asyncio.get_running_loop()
        ports = [self.port or _free_port(self.host)]
        ips = [self.host]
        if self.alternate_host:
            ips.append(self.alternate_host)
            ports.append(self.alternate_port or _free_port(self.host, avoid=ports[0]))
        endpoints = Endpoints(tuple(ips), tuple(ports))
        for local in endpoints.all():
            _transport, protocol = await loop.create_datagram_endpoint(
                functools.partial(_Socket, self, local), local_addr=local)
            self._sockets[local] = protocol
        return endpoints

    def _received(self, data: bytes, source: Address, local: Address) -> None:
        self.counters.received += 1
        if self.endpoints is None:
            return  # closing
        if self.clients is not None and not self.clients(source[0]):
            self.counters.ignored += 1
            return
        reply = binding_response(data, source, local, self.endpoints)
        if reply is None:
            self.counters.ignored += 1
            return
        sender = self._sockets.get(reply.send_from)
        if sender is None or sender.transport is None:
            return
        if self.latency:
            asyncio.get_running_loop().call_later(self.latency, _send, sender, reply.data,
                                                  reply.send_to or source)
        else:
            sender.transport.sendto(reply.data, reply.send_to or source)
        self.counters.answered += 1
        self.answered.append(Answered(time.monotonic(), source, local, self.latency))

    def shape(self, latency: float = 0.0) -> None:
        """Make the server a far-away one: each answer leaves ``latency`` seconds after its
        request arrived (a STUN server across an ocean answers in 100-300 ms). ``0`` is
        loopback's own speed again."""
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) \
                or not 0 <= latency <= 10:
            raise ValueError(f"latency must be from 0 to 10 seconds, e.g. 0.2 for 200 ms, "
                             f"got {latency!r}")
        self.latency = float(latency)

    def __await__(self) -> Generator[Any, None, StunServer]:
        return self._replace().__await__()

    async def _replace(self) -> StunServer:
        previous = StunServer.current
        if previous is not None and previous is not self:
            await previous.close()
        await self.start()
        StunServer.current = self
        return self

    async def close(self) -> None:
        if StunServer.current is self:
            StunServer.current = None
        if self.endpoints is not None:
            self.closed_by = made_by()
        for protocol in self._sockets.values():
            if protocol.transport is not None:
                protocol.transport.close()
        self._sockets.clear()
        self.endpoints = None


def _send(sender: _Socket, data: bytes, to: Address) -> None:
    """A shaped server's delayed answer (unless its socket closed meanwhile)."""
    if sender.transport is not None and not sender.transport.is_closing():
        sender.transport.sendto(data, to)


def _free_port(host: str, avoid: int = 0) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port != avoid:
            return port


def main(argv: list[str] | None = None) -> None:
    """``talklab-stun``: run the STUN server alone until interrupted."""
    parser = argparse.ArgumentParser(prog="talklab-stun", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3478)
    parser.add_argument("--alt-host", default="127.0.0.2",
                        help="second address for RFC 5780 discovery ('' to disable)")
    parser.add_argument("--alt-port", type=int, default=0, help="second port (0: a free one)")
    args = parser.parse_args(argv)

    serve_forever(StunServer(args.host, args.port, args.alt_host or None, args.alt_port),
                  lambda server: "talklab STUN server on " +
                  " ".join(f"{h}:{p}" for h, p in server.endpoints.all()), "talklab-stun")
