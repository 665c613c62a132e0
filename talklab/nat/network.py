"""The simulated network: hosts with their own loopback addresses, some behind NATs.

No root is needed: any process may bind 127.0.0.2 ... 127.255.255.254 on Linux. Each simulated
host gets a private address of its own (127.10.x.y); each NAT a public one (127.20.x.y). A NAT
here is real: packets a host sends to the outside leave from a *mapping socket* bound on the
NAT's public address (so the far side, a STUN server included, really sees the public address),
and packets arriving at a mapping socket are filtered by the NAT's rules before they reach the
host. The rules themselves are the tables of :mod:`.behaviour`.

Routing, as on a real network:
* hosts behind the same NAT (one LAN) reach each other directly, host to host;
* a private address behind another NAT is unreachable: such packets are dropped;
* everything else (public addresses, servers) goes out through the NAT.

The hook into aioice is in :mod:`talklab._aiortc`: the UDP transport of each ICE socket a
simulated host opens is wrapped in a :class:`NatTransport`.

Tested in tests/test_network_lab.py (what a NAT's filter forbids is dropped; behind a UDP-blocking
firewall only TURN over TCP gets through; audio over a slow, jittery, lossy path) and
tests/test_exercises_04.py (one socket asking two servers shows a NAT's mapping).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from talklab.address import Address
from talklab.nat import addresses
from talklab.nat.behaviour import NAT_TYPES, NatCounters, NatTable

UDP_BLOCKED = "udp-blocked"  # not a NAT type: a firewall that lets no UDP out or in
PRIVATE: dict[str, Host] = {}  # private address -> host, for every host behind a NAT


@dataclass
class Conditions:
    """What the path adds: one-way latency and jitter (seconds), loss (0..1)."""

    latency: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0

    def __post_init__(self) -> None:
        limits = {"latency": (0.0, 10.0, "seconds, e.g. 0.04 for 40 ms"),
                  "jitter": (0.0, 10.0, "seconds, e.g. 0.01 for ±10 ms"),
                  "loss": (0.0, 1.0, "a fraction: 0.05 is 5 %")}
        for name, (low, high, unit) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number ({unit}), got {value!r}")
            if not low <= value <= high:  # (NaN fails this too)
                raise ValueError(f"{name} must be from {low:g} to {high:g} ({unit}), "
                                 f"got {value!r}")
            setattr(self, name, float(value))

    def __bool__(self) -> bool:
        return bool(self.latency or self.jitter or self.loss)


class Nat:
    """One NAT box: a public address, a :class:`NatTable`, and its mapping sockets."""

    def __init__(self, kind: str, public_ip: str | None = None,
                 conditions: Conditions | None = None, seed: int | None = None) -> None:
        if kind not in NAT_TYPES and kind != UDP_BLOCKED:
            raise ValueError(f"unknown NAT type {kind!r}; one of "
                             f"{[*sorted(NAT_TYPES), UDP_BLOCKED]}")
        self.kind = kind
        if public_ip is None:
            public_ip = addresses.NATS.take()
        else:
            addresses.NATS.claim(public_ip)
        self.public_ip = public_ip
        # a UDP-blocking firewall still maps like a port-restricted NAT: for TCP, in principle
        self.table = NatTable(self.public_ip, *NAT_TYPES.get(kind, NAT_TYPES["port-restricted"]))
        self.conditions = conditions or Conditions()
        self.lan: set[str] = set()
        self.dropped_unroutable = 0
        self.dropped_lost = 0
        self._rng = random.Random(seed)
        self._sockets: dict[int, socket.socket] = {}
        self._receivers: dict[Address, Callable[[bytes, Address], None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def counters(self) -> NatCounters:
        return self.table.counters

    @property
    def blocks_udp(self) -> bool:
        """Only TCP leaves this network (a strict corporate firewall): TURN over TCP is the
        one way out for a WebRTC call."""
        return self.kind == UDP_BLOCKED

    def host(self, address: str | None = None) -> Host:
        """A new machine on this NAT's LAN."""
        host = Host(address, self)
        self.lan.add(host.address)
        PRIVATE[host.address] = host
        return host

    # -- packets leaving --------------------------------------------------------------------------
    def send(self, private: Address, data: bytes, remote: Address,
             direct: Callable[[bytes, Address], None]) -> None:
        if remote[0] in self.lan:  # same LAN: straight across
            self._later(direct, data, remote)
            return
        if remote[0] in PRIVATE:  # someone else's private address: no route
            self.dropped_unroutable += 1
            return
        if self.blocks_udp:
            self.table.counters.dropped_by_filter += 1
            return
        public = self.table.outbound(private, remote, self._open)
        self._later(self._sockets[public[1]].sendto, data, remote)

    def _later(self, action: Callable[[bytes, Address], Any], data: bytes,
               remote: Address) -> None:
        c = self.conditions
        if c.loss and self._rng.random() < c.loss:
            self.dropped_lost += 1
            return
        delay = c.latency + (self._rng.uniform(-c.jitter, c.jitter) if c.jitter else 0.0)

        def act() -> None:
            with contextlib.suppress(OSError):
                action(data, remote)

        if delay > 0:
            asyncio.get_running_loop().call_later(delay, act)
        else:
            act()

    def _open(self) -> int:
        """A mapping socket on the public address; returns its port."""
        self._loop = self._loop or asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((self.public_ip, 0))
        port = sock.getsockname()[1]
        self._sockets[port] = sock
        self._loop.add_reader(sock.fileno(), self._readable, sock, port)
        return port

    # -- packets arriving -------------------------------------------------------------------------
    def register(self, private: Address, receive: Callable[[bytes, Address], None]) -> None:
        self._receivers[private] = receive

    def _readable(self, sock: socket.socket, port: int) -> None:
        for data, remote in pending_datagrams(sock):
            private = self.table.inbound((self.public_ip, port), remote)
            receive = self._receivers.get(private) if private else None
            if receive is not None:
                self._later(receive, data, remote)

    def close(self) -> None:
        for sock in self._sockets.values():
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
        for address in list(self.lan):
            host = PRIVATE.pop(address, None)
            if host is not None:
                host.close()
        self.lan.clear()
        if not self._closed:
            self._closed = True
            addresses.NATS.give_back(self.public_ip)

    def __repr__(self) -> str:
        return f"<Nat {self.kind} {self.public_ip}, {self.counters.mappings} mappings>"


def pending_datagrams(sock: socket.socket, most: int = 64):
    """``(data, (ip, port))`` for what a non-blocking UDP socket holds now: at most ``most``
    per call, so one busy socket cannot hold up the event loop."""
    for _ in range(most):
        try:
            data, remote = sock.recvfrom(65536)
        except OSError:  # nothing more (BlockingIOError), or the socket is gone
            return
        yield data, remote[:2]


class Host:
    """A simulated machine: an address of its own (127.10.x.y), maybe behind a :class:`Nat`."""

    def __init__(self, address: str | None = None, nat: Nat | None = None) -> None:
        if address is None:
            address = addresses.HOSTS.take()
        else:
            addresses.HOSTS.claim(address)
        self.address = address
        self.nat = nat
        self.closed = False
        # what listens on this machine's sockets, as Wireshark would on a laptop: a
        # talklab.media_plane.capture.Capture, told every datagram (talklab._aiortc.taps)
        self.tap: Any = None

    def close(self) -> None:
        """The machine is gone: its address may be given to a new one."""
        if not self.closed:
            self.closed = True
            addresses.HOSTS.give_back(self.address)

    def can_hear(self, source: str) -> bool:
        """Whether a packet from ``source`` may arrive directly at this host's own address
        (not through its NAT): only from its own LAN when behind a NAT."""
        return self.nat is None or source in self.nat.lan

    def __repr__(self) -> str:
        return f"<Host {self.address}{' behind ' + self.nat.kind if self.nat else ''}>"


class NatTransport:
    """Stands in for a host socket's UDP transport: what it sends goes through the NAT."""

    def __init__(self, transport: asyncio.DatagramTransport, host: Host,
                 receive: Callable[[bytes, Address], None]) -> None:
        if host.nat is None:
            raise ValueError(f"{host} is behind no NAT")
        self._transport = transport
        self._nat = host.nat
        self._private = transport.get_extra_info("sockname")[:2]
        self._nat.register(self._private, receive)

    def sendto(self, data: bytes, addr: Address | None = None) -> None:
        if addr is None:
            raise ValueError("a NAT needs to know where each packet goes")
        self._nat.send(self._private, data, (addr[0], addr[1]), self._transport.sendto)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
