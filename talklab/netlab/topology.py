"""What the network lab builds, as plain data: segments, NATs and hosts, with their addresses.

Nothing here runs a command. A :class:`Network` is a frozen description; :mod:`.plan` turns it
into ``ip`` and ``nft`` commands, and :class:`~talklab.netlab.namespaces.NetLab` runs them.

The shape is a tiny internet (RFC 5737's documentation ranges, so that no address can belong
to anyone's real machine):

=============  ====================  ==============================================
segment        subnet                who is on it
=============  ====================  ==============================================
``isp``        198.51.100.0/24       the home routers' public (WAN) addresses
``dc``         203.0.113.0/25        servers: STUN (two addresses, RFC 5780), TURN
``school``     203.0.113.128/25      a school LAN on public addresses: a teacher, students
home LANs      192.0.2.0/24, a /28   one per home, behind that home's NAT
               each by default
=============  ====================  ==============================================

The public segments are bridges inside one namespace, ``core``, which routes between them (it
has an address on each, the segment's gateway). Each home is a router namespace (WAN on
``isp``, LAN bridge of its own, nftables NAT between them) with its hosts behind it. No
namespace has an interface that reaches the machine's own network: the only default routes
point at ``core``, and ``core`` has nowhere else to send a packet.

:class:`Design` builds a :class:`Network` step by step, handing out addresses::

    design = Design()
    design.server("stun", addresses=2)
    design.school("teacher")
    design.home("ana", nat="port-restricted")
    network = design.network()

Tested in tests/test_netlab.py and tests/test_classroom_netlab.py (their networks are Designs: homes
behind NATs, a school, servers; root only).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from talklab.netlab.nftables import KINDS

DOCUMENTATION = tuple(ipaddress.ip_network(n) for n in
                      ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))  # RFC 5737
HOME_RANGE = ipaddress.ip_network("192.0.2.0/24")
CORE = "core"  # the namespace routing between the public segments
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")


class TopologyError(ValueError):
    """A network description that cannot be built as given."""


def _documentation(address: str, what: str) -> None:
    ip = ipaddress.ip_address(address)
    if not any(ip in net for net in DOCUMENTATION):
        raise TopologyError(f"{what} {address} is outside the documentation ranges "
                            f"{', '.join(map(str, DOCUMENTATION))}: the network lab uses "
                            "no other addresses")


@dataclass(frozen=True)
class Segment:
    """One link layer (a bridge): a subnet, and the router's own address on it."""

    name: str
    subnet: str  # "198.51.100.0/24"
    gateway: str  # the router's address on this segment
    router: str = CORE  # the node that owns the bridge and routes for it

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    def contains(self, address: str) -> bool:
        return ipaddress.ip_address(address) in ipaddress.ip_network(self.subnet)


@dataclass(frozen=True)
class Nat:
    """A home router: public ``wan`` address on the ``isp`` segment, NAT of ``kind`` (a key of
    :data:`~talklab.netlab.nftables.KINDS`) towards its own ``lan`` segment."""

    name: str
    kind: str
    wan: str
    lan: Segment


@dataclass(frozen=True)
class Host:
    """A machine: one interface on ``segment``, one or more addresses on it (the first is
    its main address; a STUN server for RFC 5780 needs two)."""

    name: str
    segment: str
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        return self.addresses[0]


@dataclass(frozen=True)
class Network:
    """The whole description: public segments, NATs (each with its LAN) and hosts."""

    segments: tuple[Segment, ...]
    nats: tuple[Nat, ...] = ()
    hosts: tuple[Host, ...] = ()

    def __post_init__(self) -> None:
        self.validate()

    # -- lookups ---------------------------------------------------------------------------------
    def segment(self, name: str) -> Segment:
        for segment in self.all_segments():
            if segment.name == name:
                return segment
        raise KeyError(f"no segment {name!r}")

    def all_segments(self) -> list[Segment]:
        return [*self.segments, *(nat.lan for nat in self.nats)]

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no host {name!r}; hosts: {[h.name for h in self.hosts]}")

    def nat_of(self, host: str | Host) -> Nat | None:
        """The NAT a host sits behind, or None for a host on a public segment."""
        segment = self.host(host).segment if isinstance(host, str) else host.segment
        return next((nat for nat in self.nats if nat.lan.name == segment), None)

    def nodes(self) -> list[str]:
        """Every node that is a namespace of its own: the core, routers, hosts."""
        return [CORE, *(nat.name for nat in self.nats), *(host.name for host in self.hosts)]

    # -- rules -----------------------------------------------------------------------------------
    def validate(self) -> None:
        names = self.nodes()
        for name in names:
            if not _NAME.match(name):
                raise TopologyError(f"node name {name!r}: lower-case letters, digits and '-', "
                                    "starting with a letter, at most 24 characters")
        if len(set(names)) != len(names):
            raise TopologyError(f"node names must be unique: {names}")
        segments = [s.name for s in self.all_segments()]
        if len(set(segments)) != len(segments):
            raise TopologyError(f"segment names must be unique: {segments}")
        for segment in self.all_segments():
            _documentation(segment.gateway, f"segment {segment.name}'s gateway")
            if not segment.contains(segment.gateway):
                raise TopologyError(f"gateway {segment.gateway} is outside {segment.subnet}")
        public = {s.name for s in self.segments}
        seen: dict[str, str] = {}  # public address -> owner: no two machines share one
        for segment in self.segments:
            seen[segment.gateway] = CORE
        for nat in self.nats:
            if nat.kind not in KINDS:
                raise TopologyError(f"NAT {nat.name}: unknown kind {nat.kind!r}; one of "
                                    f"{sorted(KINDS)}")
            if nat.lan.router != nat.name:
                raise TopologyError(f"NAT {nat.name}'s LAN must be routed by it")
            _documentation(nat.wan, f"NAT {nat.name}'s WAN address")
            if not any(s.contains(nat.wan) for s in self.segments):
                raise TopologyError(f"NAT {nat.name}'s WAN {nat.wan} is on no public segment")
            if nat.wan in seen:
                raise TopologyError(f"{nat.wan} is both {seen[nat.wan]}'s and {nat.name}'s")
            seen[nat.wan] = nat.name
        for host in self.hosts:
            segment = self.segment(host.segment)  # (KeyError: a segment that is not there)
            for address in host.addresses:
                _documentation(address, f"host {host.name}'s address")
                if not segment.contains(address) or address == segment.gateway:
                    raise TopologyError(f"host {host.name}: {address} is not a host address "
                                        f"of {segment.name} ({segment.subnet})")
                owner = f"{segment.name}:{address}" if segment.name not in public else address
                if owner in seen:
                    raise TopologyError(f"{address} on {segment.name} is both "
                                        f"{seen[owner]}'s and {host.name}'s")
                seen[owner] = host.name


ISP = Segment("isp", "198.51.100.0/24", "198.51.100.1")
DC = Segment("dc", "203.0.113.0/25", "203.0.113.1")
SCHOOL = Segment("school", "203.0.113.128/25", "203.0.113.129")


@dataclass
class Design:
    """Builds a :class:`Network`, handing out the next free address of each segment."""

    segments: tuple[Segment, ...] = (ISP, DC, SCHOOL)
    _nats: list[Nat] = field(default_factory=list)
    _hosts: list[Host] = field(default_factory=list)
    _next: dict[str, int] = field(default_factory=dict)  # segment -> next host number

    def _take(self, segment: Segment, start: int) -> str:
        net = ipaddress.ip_network(segment.subnet)
        number = self._next.get(segment.name, start)
        used = {a for h in self._hosts if h.segment == segment.name for a in h.addresses}
        used |= {n.wan for n in self._nats} | {segment.gateway}
        while str(net[number]) in used:
            number += 1
        if number >= net.num_addresses - 1:
            raise TopologyError(f"segment {segment.name} ({segment.subnet}) is full")
        self._next[segment.name] = number + 1
        return str(net[number])

    def _public(self, name: str) -> Segment:
        for segment in self.segments:
            if segment.name == name:
                return segment
        raise TopologyError(f"no public segment {name!r}")

    def server(self, name: str, addresses: int = 1, segment: str = "dc") -> Host:
        """A machine on a public segment (``dc`` by default) with ``addresses`` addresses."""
        seg = self._public(segment)
        host = Host(name, seg.name, tuple(self._take(seg, 10) for _ in range(addresses)))
        self._hosts.append(host)
        return host

    def school(self, name: str) -> Host:
        """A machine on the school LAN (public addresses, no NAT)."""
        return self.server(name, segment="school")

    def home(self, name: str, nat: str, hosts: int = 1, subnet: str | None = None) -> list[Host]:
        """A home behind a NAT of kind ``nat``: its router ``<name>-nat`` and ``hosts``
        machines (``name``, then ``name-2``, ...). Each home gets the next /28 of 192.0.2.0/24
        unless ``subnet`` is given (homes may share one: each LAN is a namespace of its own,
        as every real home is 192.168.1.0/24)."""
        if subnet is None:
            index = len(self._nats)
            blocks = list(HOME_RANGE.subnets(new_prefix=28))
            if index >= len(blocks):
                raise TopologyError(f"more than {len(blocks)} homes: give each a subnet= "
                                    "(they may overlap)")
            subnet = str(blocks[index])
        net = ipaddress.ip_network(subnet)
        if not net.subnet_of(HOME_RANGE):  # type: ignore[arg-type]
            raise TopologyError(f"a home LAN is inside {HOME_RANGE}, got {subnet}")
        router = f"{name}-nat"
        lan = Segment(f"{name}-lan", str(net), str(net[1]), router=router)
        self._nats.append(Nat(router, nat, self._take(self._public("isp"), 10), lan))
        made = []
        for i in range(hosts):
            if i + 2 >= net.num_addresses - 1:
                raise TopologyError(f"home {name}: {subnet} has no room for {hosts} hosts")
            made.append(Host(name if i == 0 else f"{name}-{i + 1}", lan.name, (str(net[i + 2]),)))
        self._hosts.extend(made)
        return made

    def network(self) -> Network:
        return Network(self.segments, tuple(self._nats), tuple(self._hosts))
