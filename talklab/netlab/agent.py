"""An agent: a Python process on one host of the network lab, run by the parent.

The parent starts it inside a host's namespace (``ip netns exec <ns> python -m
talklab.netlab.agent --name ana``) and talks to it in JSON lines (:mod:`.protocol`) over its
stdin and stdout; whatever else the process prints goes to stderr. It serves until its stdin
closes (the parent is gone) or it is asked to ``exit``.

What it can do (the ``op`` of a request, and its ``args``):

==================  ===========================================================================
``ping``            its process ID and the addresses aioice gathers on here
``stun.start``      talklab's STUN server (``host``, ``port``, ``alternate_host``,
                    ``alternate_port``: two addresses and two ports for RFC 5780)
``turn.start``      talklab's TURN server (``host``, ``port``, ``secret`` for time-limited
                    credentials, ``networks``: the peers it may relay to)
``ice.new``         an ICE agent ``id`` (:class:`~.pairing.Peer`: ``controlling``, ``stun``,
                    ``turn``, ``turn_username``, ``turn_password``)
``ice.gather``      its description; ``ice.remote``: the other side's; ``ice.connect``: the
                    outcome (``timeout``); ``ice.close``
``detect_nat``      RFC 5780's tests against ``server`` from this host (:func:`talklab.detect_nat`)
``udp.open``        a plain UDP socket (``port``), and ``udp.send`` / ``udp.receive`` /
                    ``udp.close`` on it: for probing netfilter by hand
``exit``            stop
==================  ===========================================================================

and a classroom's (a teacher's servers, a student's lab): :mod:`.classops`.

An agent refuses to run in the machine's own network namespace, and on any address outside
the documentation ranges: it gathers only on the veth of its namespace. talklab's aioice
adjustments are installed for their retransmission count and nomination rule (the simulator's
people use the same), but not their loopback gathering: no code here calls ``gathering_on``.

Tested in tests/test_netlab.py and tests/test_classroom_netlab.py (every host's part there is played
by an agent in its namespace: ICE, STUN, TURN, detect_nat, a classroom; root only).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from talklab.netlab.protocol import MAX_LINE, Hello, ProtocolError, Reply, Request, parse_request
from talklab.netlab.topology import DOCUMENTATION
from talklab.tasks import within


class Refused(RuntimeError):
    """The agent will not run here."""


def check_place() -> list[str]:
    """The addresses this host would gather on; refuses the machine's own namespace."""
    import aioice.ice

    try:  # the parent runs in the machine's namespace (ip netns exec execs us directly)
        own, parent = os.readlink("/proc/self/ns/net"), os.readlink(
            f"/proc/{os.getppid()}/ns/net")
    except OSError as exc:
        raise Refused(f"cannot tell which network namespace this is: {exc}") from None
    if own == parent:
        raise Refused("this is the machine's own network namespace: an agent runs only "
                      "inside a network lab namespace (ip netns exec)")
    addresses = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    outside = [a for a in addresses
               if not any(ipaddress.ip_address(a) in net for net in DOCUMENTATION)]
    if outside:
        raise Refused(f"addresses outside the documentation ranges here: {outside}")
    return addresses


class Host:
    """What one agent holds: servers, ICE agents and sockets, by name."""

    def __init__(self, name: str, addresses: list[str]) -> None:
        self.name, self.addresses = name, addresses
        self.peers: dict[str, Any] = {}
        self.services: list[Any] = []
        self.sockets: dict[int, Any] = {}
        self.stopping = asyncio.Event()
        self.ops: dict[str, Callable[..., Awaitable[Any]]] = {
            "ping": self.ping, "stun.start": self.stun_start, "turn.start": self.turn_start,
            "ice.new": self.ice_new, "ice.gather": self.ice_gather,
            "ice.remote": self.ice_remote, "ice.connect": self.ice_connect,
            "ice.close": self.ice_close, "detect_nat": self.detect_nat,
            "udp.open": self.udp_open, "udp.send": self.udp_send,
            "udp.receive": self.udp_receive, "udp.close": self.udp_close, "exit": self.exit,
        }
        from talklab.netlab.classops import ClassOps
        self.classroom = ClassOps()
        self.ops.update(self.classroom.ops())

    async def handle(self, request: Request) -> Reply:
        op = self.ops.get(request.op)
        if op is None:
            return Reply(request.id, False, error=f"unknown op {request.op!r}; one of "
                         f"{sorted(self.ops)}", type="ValueError")
        try:
            return Reply(request.id, True, await op(**request.args))
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            return Reply(request.id, False, error=f"{request.op}: {detail}",
                         type=type(exc).__name__)

    async def ping(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "addresses": self.addresses}

    # -- servers ------------------------------------------------------------------------------
    async def stun_start(self, host: str, port: int = 3478, alternate_host: str | None = None,
                         alternate_port: int = 3479) -> dict[str, Any]:
        from talklab.stun import StunServer
        server = await StunServer(host, port, alternate_host, alternate_port).start()
        self.services.append(server)
        assert server.endpoints is not None
        return {"endpoints": server.endpoints.all()}

    async def turn_start(self, host: str, port: int = 3478, secret: str | None = None,
                         networks: list[str] | None = None) -> dict[str, Any]:
        from talklab.turn import TurnServer
        from talklab.turn.policy import PeerPolicy
        policy = PeerPolicy(networks=tuple(ipaddress.ip_network(n) for n in networks or []))
        server = await TurnServer(host, port, users={}, secret=secret, policy=policy).start()
        self.services.append(server)
        return {"address": server.address}

    # -- ICE ----------------------------------------------------------------------------------
    async def ice_new(self, id: str, controlling: bool, stun: list | None = None,
                      turn: list | None = None, turn_username: str | None = None,
                      turn_password: str | None = None) -> None:
        from talklab.netlab.pairing import Peer
        if id in self.peers:
            raise ValueError(f"an ICE agent {id!r} exists already")
        self.peers[id] = Peer(controlling, tuple(stun) if stun else None,
                              tuple(turn) if turn else None,
                              turn_username, turn_password)

    def _peer(self, id: str) -> Any:
        if id not in self.peers:
            raise KeyError(f"no ICE agent {id!r}")
        return self.peers[id]

    async def ice_gather(self, id: str) -> dict[str, Any]:
        description = await self._peer(id).gather()
        return description.to_json()

    async def ice_remote(self, id: str, description: dict[str, Any]) -> None:
        from talklab.netlab.pairing import Description
        await self._peer(id).remote(Description.from_json(description))

    async def ice_connect(self, id: str, timeout: float) -> dict[str, Any]:
        outcome = await self._peer(id).connect(timeout)
        return outcome.to_json()

    async def ice_close(self, id: str) -> None:
        await self.peers.pop(id).close()

    # -- NAT discovery ------------------------------------------------------------------------
    async def detect_nat(self, server: list, local: str | None = None) -> dict[str, Any]:
        from talklab.nat import Host as SimHost
        from talklab.nat import detect_nat
        report = await detect_nat((server[0], server[1]), host=SimHost(local or self.addresses[0]))
        return {"type": report.type, "steps": report.steps,
                "mapping": report.mapping.value if report.mapping else None,
                "filtering": report.filtering.value if report.filtering else None,
                "local": report.local, "mapped": report.mapped}

    # -- plain UDP ----------------------------------------------------------------------------
    async def udp_open(self, port: int = 0, host: str | None = None) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()

        class Receiver(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                queue.put_nowait((data, addr[:2]))

        transport, _ = await loop.create_datagram_endpoint(
            Receiver, local_addr=(host or self.addresses[0], port))
        local = transport.get_extra_info("sockname")[:2]
        self.sockets[local[1]] = (transport, queue)
        return {"local": local}

    async def udp_send(self, port: int, to: list, data: str) -> None:
        self.sockets[port][0].sendto(data.encode(), (to[0], to[1]))

    async def udp_receive(self, port: int, timeout: float = 1.0) -> dict[str, Any] | None:
        try:
            data, source = await within(self.sockets[port][1].get(), timeout)
        except TimeoutError:
            return None
        return {"data": data.decode(errors="replace"), "from": source}

    async def udp_close(self, port: int) -> None:
        self.sockets.pop(port)[0].close()

    async def exit(self) -> None:
        self.stopping.set()

    async def close(self) -> None:
        await self.classroom.close()
        for peer in list(self.peers.values()):
            await peer.close()
        for service in self.services:
            await service.close()
        for transport, _ in self.sockets.values():
            transport.close()


async def serve(name: str, retries: int) -> int:
    """Read requests until stdin closes or ``exit``; answer each from a task of its own."""
    from talklab import _aiortc
    try:
        addresses = check_place()
    except Refused as exc:
        print(f"talklab.netlab.agent {name}: {exc}", file=sys.stderr)
        return 3
    protocol_fd = os.dup(1)  # the protocol's own: nothing else may write there
    os.dup2(2, 1)  # a library that prints writes to stderr
    sys.stdout = sys.stderr
    _aiortc.enter()  # retransmissions and nomination as the simulator's people have them
    _aiortc.bind(_aiortc.Settings(check_retries=retries))

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE + 2)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    host = Host(name, addresses)

    def send(line: bytes) -> None:
        os.write(protocol_fd, line)  # small lines to a parent that always reads: no waiting

    async def answer(request: Request) -> None:
        send((await host.handle(request)).line())

    send(Hello(name, os.getpid(), addresses).line())
    tasks: set[asyncio.Task[None]] = set()
    status = 0
    stop = asyncio.ensure_future(host.stopping.wait())
    try:
        while not host.stopping.is_set():
            read = asyncio.ensure_future(reader.readline())
            await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not read.done():
                read.cancel()
                break
            try:
                line = read.result()
            except (ValueError, asyncio.LimitOverrunError) as exc:  # longer than MAX_LINE
                print(f"talklab.netlab.agent {name}: a request line too long: {exc}",
                      file=sys.stderr)
                status = 2
                break
            if not line:
                break  # the parent closed our stdin: it is gone, or done with us
            try:
                request = parse_request(line)
            except ProtocolError as exc:
                print(f"talklab.netlab.agent {name}: {exc}", file=sys.stderr)
                status = 2
                break
            task = asyncio.ensure_future(answer(request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=2)
    finally:
        stop.cancel()
        await host.close()
        _aiortc.leave()
    return status


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m talklab.netlab.agent")
    parser.add_argument("--name", default="agent")
    parser.add_argument("--retries", type=int, default=3,
                        help="STUN retransmissions of a check (talklab's check_retries)")
    args = parser.parse_args(argv)
    raise SystemExit(asyncio.run(serve(args.name, args.retries)))


if __name__ == "__main__":
    main()
