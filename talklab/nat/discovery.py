"""What kind of NAT am I behind? RFC 5780's tests, run from behind a simulated NAT.

The server (talklab's :class:`~talklab.stun.StunServer`) listens on two IPs and two ports and
names its other address in OTHER-ADDRESS. Then (RFC 5780, 4.3 and 4.4):

Mapping
    I.   Binding to the primary address: the mapped address. Same as ours? No NAT at all.
    II.  Binding to the other IP, primary port: same mapping as I? Endpoint-independent.
    III. Binding to the other IP and port: same as II? Address-dependent; else
         address-and-port-dependent.
Filtering (from a fresh socket, so no earlier packet has opened the filter)
    II.  Ask for the answer from the other IP and port (CHANGE-REQUEST): it arrives?
         Endpoint-independent.
    III. Ask for it from the other port only: it arrives? Address-dependent; else
         address-and-port-dependent.

Tested in tests/test_nat.py (detect_nat names each type configured, through real simulated NATs) and
tests/test_exercises_04.py (behind a symmetric NAT, as notebook 04 shows it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aioice import stun

from talklab.address import Address
from talklab.nat.behaviour import AD, APD, EI, Behaviour, nat_type
from talklab.nat.network import Host, Nat, NatTransport
from talklab.tasks import within


@dataclass
class NatReport:
    mapping: Behaviour | None
    filtering: Behaviour | None
    type: str
    local: Address | None = None
    mapped: Address | None = None
    steps: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # what a notebook shows as text: a summary, not the fields
        return f"<NAT report: {self.type}, {len(self.steps)} steps>"

    def _repr_html_(self) -> str:
        steps = "".join(f"<li>{s}</li>" for s in self.steps)
        return f"<b>{self.type}</b><ol>{steps}</ol>"


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: dict[bytes, asyncio.Future] = {}

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            message = stun.parse_message(data)
        except Exception:
            return
        future = self.answers.pop(message.transaction_id, None)
        if future is not None and not future.done():
            future.set_result((message, addr[:2]))

    async def ask(self, server: Address, change: int = 0, timeout: float = 0.3,
                  tries: int = 2) -> tuple[stun.Message, Address] | None:
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        if change:
            request.attributes["CHANGE-REQUEST"] = change
        future = asyncio.get_running_loop().create_future()
        self.answers[request.transaction_id] = future
        for _ in range(tries):
            self.transport.sendto(bytes(request), server)
            try:
                return await within(asyncio.shield(future), timeout)
            except TimeoutError:
                continue
        self.answers.pop(request.transaction_id, None)
        return None


async def _socket(host: Host) -> tuple[_Client, asyncio.DatagramTransport]:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Client,
                                                            local_addr=(host.address, 0))
    if host.nat is not None:
        client.transport = NatTransport(transport, host, client.datagram_received)
    return client, transport


async def detect_nat(stun_server: Address, nat: str | Nat | None = None,
                     host: Host | None = None) -> NatReport:
    """Run the RFC 5780 tests against ``stun_server`` from a host behind ``nat`` (a type name
    such as ``"symmetric"``, a :class:`Nat`, or ``None`` for no NAT), and report what the
    tests found. ``host`` may be given instead, to test an existing host."""
    own_nat = isinstance(nat, str)
    own_host = host is None
    if host is None:
        box = Nat(nat) if isinstance(nat, str) else nat
        host = box.host() if box is not None else Host()
    steps: list[str] = []
    client, transport = await _socket(host)
    fresh = None
    try:
        first = await client.ask(stun_server)
        if first is None:
            return NatReport(None, None, "no answer (UDP blocked?)", steps=["I: no answer"])
        local = transport.get_extra_info("sockname")[:2]
        mapped1 = first[0].attributes["XOR-MAPPED-ADDRESS"]
        other = first[0].attributes.get("OTHER-ADDRESS")
        steps.append(f"I: from {local[0]}:{local[1]} the server sees "
                     f"{mapped1[0]}:{mapped1[1]}")
        if other is None:
            return NatReport(None, None, "server has no OTHER-ADDRESS", local, mapped1, steps)
        if mapped1 == local:
            steps.append("mapped address = our own: no NAT")
            return NatReport(EI, EI, "none", local, mapped1, steps)
        second = await client.ask((other[0], stun_server[1]))
        if second is None:
            steps.append("II: no answer from the other IP")
            return NatReport(None, None, "no answer from the server's other address", local,
                             mapped1, steps)
        mapped2 = second[0].attributes["XOR-MAPPED-ADDRESS"]
        steps.append(f"II: to the other IP, the server sees {mapped2[0]}:{mapped2[1]}")
        if mapped2 == mapped1:
            mapping = EI
        else:
            third = await client.ask(other)
            if third is None:
                steps.append("III: no answer from the other IP and port")
                return NatReport(None, None, "no answer from the server's other port", local,
                                 mapped1, steps)
            mapped3 = third[0].attributes["XOR-MAPPED-ADDRESS"]
            steps.append(f"III: to the other IP and port, it sees {mapped3[0]}:{mapped3[1]}")
            mapping = AD if mapped3 == mapped2 else APD
        steps.append(f"mapping: {mapping.value}")

        fresh, fresh_transport = await _socket(host)
        if await fresh.ask(stun_server, change=0x06) is not None:
            filtering = EI
            steps.append("filtering II: the answer from the other IP and port arrived")
        elif await fresh.ask(stun_server, change=0x02) is not None:
            filtering = AD
            steps.append("filtering III: only the answer from the other port arrived")
        else:
            filtering = APD
            steps.append("filtering III: not even the answer from the other port arrived")
        fresh_transport.close()
        steps.append(f"filtering: {filtering.value}")
        return NatReport(mapping, filtering, nat_type(mapping, filtering), local, mapped1, steps)
    finally:
        transport.close()
        if own_nat and host.nat is not None:
            host.nat.close()  # (closes its hosts too)
        elif own_host:
            host.close()
