"""The TURN server's sockets: UDP and TCP listeners and one UDP socket per relayed address.

All decisions are :class:`~.core.TurnCore`'s; this adapter only moves bytes. Over TCP, STUN
messages and ChannelData share one byte stream, so it is cut into messages by their headers
(RFC 8656, 12.5: ChannelData is padded to 4 bytes there).

Every relayed call sends all its media to the one listening UDP socket. asyncio's datagram
transport reads one datagram per turn of the event loop; with a room of people in the same
process keeping the loop busy, that fell far behind the packets arriving, the kernel's buffer
overflowed and 95 % of a relayed stream was lost (measured: a call whose audio went one way
only). So the listening socket, like the relay sockets, is read in batches as it becomes
readable (:func:`~talklab.nat.network.pending_datagrams`), with a larger receive buffer.

Tested in tests/test_turn.py (a fuzz run, after which it still relays), tests/test_coturn.py
(coturn's turnutils_uclient relays through it) and tests/test_abuse.py (TURN over TCP: a client
whose peer floods, or who never reads, is dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import socket
import struct
from collections.abc import Callable

from talklab._service import Service, serve_forever
from talklab.address import Address
from talklab.nat.network import Conditions, pending_datagrams
from talklab.turn.core import Action, CloseRelay, SendToClient, SendToPeer, TurnCore, TurnCounters
from talklab.turn.policy import PeerPolicy

log = logging.getLogger("talklab.turn")
READ_BATCH = 256  # datagrams read from the listening socket per wake-up of the event loop
MAX_TCP_UNSENT = 1024 * 1024  # bytes a TCP client may leave unread before it is dropped
RECEIVE_BUFFER = 4 * 1024 * 1024  # bytes the kernel may hold for the listening socket


class TurnServer(Service):
    """A TURN server on loopback (UDP and TCP on the same port), driving a :class:`TurnCore`.

    ``users`` maps usernames to passwords; ``secret`` enables time-limited credentials.
    Relayed addresses are taken from ``relay_ports`` (a range) on ``relay_host``. ``clients``
    (a function of an IP address) says who may use it: others' datagrams are ignored and their
    TCP connections closed at once.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 users: dict[str, str] | None = None, realm: str = "talklab",
                 secret: str | None = None, allow_loopback_peers: bool = False,
                 allow_private_peers: bool = False, relay_host: str | None = None,
                 relay_ports: tuple[int, int] = (49152, 65535), quota: int = 10,
                 tcp: bool = True, seed: int | None = None,
                 policy: PeerPolicy | None = None,
                 clients: Callable[[str], bool] | None = None) -> None:
        self.host, self.port = host, port
        self.clients = clients
        self.relay_host = relay_host or host
        self.relay_ports = relay_ports
        if users is None:
            users = {"talklab": "talklab"}
        first: tuple[str | None, str | None] = next(iter(users.items()), (None, None))
        self.username, self.password = first
        self.core = TurnCore(realm=realm, users=users, secret=secret,
                             allow_loopback_peers=allow_loopback_peers,
                             allow_private_peers=allow_private_peers, policy=policy,
                             quota=quota,
                             allocate_relay=self._open_relay, release_relay=self._close_relay)
        self.tcp = tcp
        self.address: Address | None = None
        self._udp: socket.socket | None = None
        self._tcp_server: asyncio.AbstractServer | None = None
        self._tcp_clients: dict[Address, asyncio.StreamWriter] = {}
        self._relays: dict[Address, socket.socket] = {}
        self._next_port = relay_ports[0]
        self._expiry: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.conditions = Conditions()  # see shape()
        self._rng = random.Random(seed)

    def _address(self) -> Address:
        if self.address is None:
            raise RuntimeError("the TURN server is not running: await server.start() first")
        return self.address

    @property
    def url(self) -> str:
        """The ``turn:`` URL (UDP) for an RTCIceServer."""
        host, port = self._address()
        return f"turn:{host}:{port}"

    @property
    def url_tcp(self) -> str:
        host, port = self._address()
        return f"turn:{host}:{port}?transport=tcp"

    def is_relay(self, address: Address) -> bool:
        """Is ``address`` one of this server's relayed transport addresses (right now)?"""
        return (address[0], address[1]) in self._relays

    @property
    def counters(self) -> TurnCounters:
        return self.core.counters

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> TurnServer:
        if self.address is not None:
            return self
        self._loop = asyncio.get_running_loop()
        for _ in range(20):  # the UDP port must be free for TCP too
            try:
                self._udp = _listen_udp(self.host, self.port)
                port = self._udp.getsockname()[1]
                if self.tcp:
                    self._tcp_server = await asyncio.start_server(self._on_tcp, self.host, port)
                break
            except OSError:
                self._close_udp()
                if self.port:
                    raise
        else:
            raise OSError("no free port for the TURN server")
        self.address = (self.host, port)
        udp = self._udp
        assert udp is not None
        self._loop.add_reader(udp.fileno(), self._udp_readable, udp)
        self._expiry = asyncio.ensure_future(self._expire_forever())
        return self

    async def close(self) -> None:
        if self.address is None:
            return
        self.address = None
        if self._expiry:
            self._expiry.cancel()
        self._close_udp()
        if self._tcp_server:
            self._tcp_server.close()
            for writer in list(self._tcp_clients.values()):
                writer.close()
            self._tcp_clients.clear()
        for relay in list(self._relays):
            self._close_relay(relay)

    def _close_udp(self) -> None:
        udp, self._udp = self._udp, None
        if udp is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(udp.fileno())
            udp.close()

    def _udp_readable(self, udp: socket.socket) -> None:
        for data, client in pending_datagrams(udp, READ_BATCH):
            if self.clients is None or self.clients(client[0]):
                self._apply(self.core.handle_client(data, client, "udp"))

    async def _expire_forever(self) -> None:
        while True:
            await asyncio.sleep(1)
            self._apply(self.core.expire())

    # -- relayed addresses -----------------------------------------------------------------------
    def _open_relay(self) -> Address:
        low, high = self.relay_ports
        for _ in range(high - low + 1):
            port = self._next_port
            self._next_port = low if port >= high else port + 1
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((self.relay_host, port))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            relay = (self.relay_host, port)
            self._relays[relay] = sock
            loop = self._loop or asyncio.get_running_loop()
            loop.add_reader(sock.fileno(), self._relay_readable, relay, sock)
            return relay
        raise OSError("relay port range exhausted")

    def _close_relay(self, relay: Address) -> None:
        sock = self._relays.pop(relay, None)
        if sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()

    def _relay_readable(self, relay: Address, sock: socket.socket) -> None:
        for data, peer in pending_datagrams(sock):
            self._apply(self.core.handle_peer(relay, data, peer))

    # -- TCP -------------------------------------------------------------------------------------
    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = writer.get_extra_info("peername")[:2]
        if self.clients is not None and not self.clients(client[0]):
            writer.close()
            return
        self._tcp_clients[client] = writer
        handled = 0
        try:
            while True:
                handled += 1
                if handled % 32 == 0:  # (readexactly does not yield while data is buffered:
                    await asyncio.sleep(0)  # a client pipelining requests took the loop)
                head = await reader.readexactly(4)
                kind, length = struct.unpack("!HH", head)
                if kind & 0xC000 == 0:  # STUN: 20-byte header, length counts attributes
                    body = await reader.readexactly(16 + length)
                elif kind & 0xC000 == 0x4000:  # ChannelData, padded to 4 over TCP
                    body = await reader.readexactly(length + (-length % 4))
                else:
                    break  # not TURN: hang up
                self._apply(self.core.handle_client(head + body, client, "tcp"))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tcp_clients.pop(client, None)
            self._apply(self.core.client_gone(client, "tcp"))
            writer.close()

    # -- doing what the core says ------------------------------------------------------------------
    def shape(self, latency: float = 0.0, jitter: float = 0.0, loss: float = 0.0) -> None:
        """Make the relay a far-away one: every packet the server sends waits ``latency``
        seconds (± ``jitter``), and a fraction ``loss`` is lost (a relay across an ocean adds
        tens of milliseconds each way: the seed's "50–150 ms" tier)."""
        self.conditions = Conditions(latency, jitter, loss)

    def _apply(self, actions: list[Action]) -> None:
        c = self.conditions
        for action in actions:
            if not c or isinstance(action, CloseRelay):
                self._do(action)
            elif not (c.loss and self._rng.random() < c.loss):
                delay = max(0.0, c.latency + (self._rng.uniform(-c.jitter, c.jitter)
                                              if c.jitter else 0.0))
                loop = self._loop or asyncio.get_running_loop()
                loop.call_later(delay, self._do, action)

    def _do(self, action: Action) -> None:
        if self.address is None:
            return  # closed meanwhile (a delayed packet of a shaped relay)
        try:
            if isinstance(action, SendToClient):
                if action.transport == "udp":
                    if self._udp is not None:
                        self._udp.sendto(action.data, action.client)
                elif action.client in self._tcp_clients:
                    self._write_tcp(action.client, action.data)
            elif isinstance(action, SendToPeer):
                sock = self._relays.get(action.relay)
                if sock is not None:
                    sock.sendto(action.data, action.peer)
            elif isinstance(action, CloseRelay):
                self._close_relay(action.relay)
        except OSError:
            pass


    def _write_tcp(self, client: Address, data: bytes) -> None:
        """Over TCP nothing is ever dropped on the way, so a client that stops reading (while
        its peer keeps sending, or while it pipelines requests) would make the server hold
        everything for it: past :data:`MAX_TCP_UNSENT` unsent bytes it is hung up on."""
        writer = self._tcp_clients[client]
        writer.write(data)
        unsent = writer.transport.get_write_buffer_size()
        if unsent > MAX_TCP_UNSENT:
            log.warning("TURN over TCP: %s:%d is not reading (%d bytes unsent); dropping it",
                        client[0], client[1], unsent)
            self._tcp_clients.pop(client, None)
            writer.transport.abort()
            self._apply(self.core.client_gone(client, "tcp"))


def _listen_udp(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def main(argv: list[str] | None = None) -> None:
    """``talklab-turn``: run the TURN server alone until interrupted."""
    parser = argparse.ArgumentParser(prog="talklab-turn", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3478)
    parser.add_argument("--user", action="append", default=[], metavar="NAME:PASS")
    parser.add_argument("--realm", default="talklab")
    parser.add_argument("--secret", help="shared secret for time-limited credentials")
    parser.add_argument("--allow-loopback-peers", action="store_true",
                        help="relay to 127.0.0.0/8 peers (refused by default, as coturn)")
    parser.add_argument("--min-port", type=int, default=49152)
    parser.add_argument("--max-port", type=int, default=65535)
    args = parser.parse_args(argv)
    users = {}
    for pair in args.user:
        if ":" not in pair:
            parser.error("--user takes NAME:PASS")
        name, password = pair.split(":", 1)
        users[name] = password

    server = TurnServer(args.host, args.port, users=users, realm=args.realm, secret=args.secret,
                        allow_loopback_peers=args.allow_loopback_peers,
                        relay_ports=(args.min_port, args.max_port))
    serve_forever(server, lambda s: f"talklab TURN server on {s.address[0]}:{s.address[1]} "
                  "(udp, tcp)", "talklab-turn")
