"""From a :class:`~talklab.netlab.topology.Network` to the commands that build it (no I/O).

Every name a run makes carries the run's prefix, ``tl`` and four hex digits (``tl3f9a``):
namespaces are ``<prefix>-<node>``, interfaces ``<prefix>-<role>`` (at most 15 characters, the
kernel's limit). Two runs at once, or the leftovers of a run that was killed, never share a
name, and ``ip netns list | grep ^tl3f9a-`` shows exactly what one run made.

Interfaces are created *inside* their namespaces (``ip -n A link add X type veth peer name Y
netns B``): none of them ever appears in the machine's own namespace, even for a moment, and
deleting a namespace deletes the veth ends in it (and so their peers).

The build, in order:

1. a namespace per node, its loopback up, IPv6 off (the lab is IPv4, as the simulator);
2. ``core``: a bridge per public segment with the gateway's address, forwarding on;
3. each NAT: WAN veth into the ``isp`` bridge, LAN bridge, forwarding on, its nftables rule set;
4. each host: a veth into its segment's bridge, its addresses, a default route to the gateway.

Tested in tests/test_netlab.py (every network there is built from its steps and torn down; root
only).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from talklab.netlab import nftables
from talklab.netlab.topology import CORE, Network

IFNAMSIZ = 15  # the longest interface name Linux takes
PREFIX = re.compile(r"^tl[0-9a-f]{4}$")


@dataclass(frozen=True)
class Step:
    """One command: ``argv``, with ``stdin`` fed to it (an nftables rule set), and why."""

    argv: tuple[str, ...]
    why: str
    stdin: str | None = None

    def __str__(self) -> str:
        return " ".join(self.argv) + (" <<rules" if self.stdin else "")


def new_prefix(taken: Iterable[str] = ()) -> str:
    """A fresh run prefix that no namespace in ``taken`` starts with."""
    taken = list(taken)
    for _ in range(1000):
        prefix = "tl" + secrets.token_hex(2)
        if not any(name.startswith(prefix + "-") for name in taken):
            return prefix
    raise RuntimeError("no free network lab prefix: clean up leftover namespaces "
                       "(python -m talklab.netlab.shell --clean)")


@dataclass(frozen=True)
class Names:
    """The names one run gives to namespaces and interfaces."""

    prefix: str

    def __post_init__(self) -> None:
        if not PREFIX.match(self.prefix):
            raise ValueError(f"a run prefix is 'tl' and four hex digits, got {self.prefix!r}")

    def namespace(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    def interface(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        if len(name) > IFNAMSIZ:
            raise ValueError(f"interface name {name!r} is longer than {IFNAMSIZ} characters")
        return name

    def bridge(self, segment: str) -> str:
        return self.interface("br" + segment[:6])

    def owns(self, name: str) -> bool:
        return name.startswith(self.prefix + "-")


def _ip(ns: str, *args: str) -> tuple[str, ...]:
    return ("ip", "-n", ns, *args)


def _sysctl(ns: str, settings: dict[str, str], why: str) -> Step:
    """``sysctl -w`` inside ``ns``, written through /proc/sys (which shows the netns of the
    process that reads it), so no procps is needed; a key absent from this kernel (IPv6 off at
    boot) is skipped."""
    script = "; ".join(f"f=/proc/sys/{key.replace('.', '/')}; [ ! -e $f ] || echo {value} > $f"
                       for key, value in settings.items())
    return Step(("ip", "netns", "exec", ns, "sh", "-ec", script), why)


NO_IPV6 = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}


def build(network: Network, names: Names) -> list[Step]:
    """Every command that builds ``network``, in order."""
    steps: list[Step] = []
    core = names.namespace(CORE)
    for node in network.nodes():
        ns = names.namespace(node)
        steps.append(Step(("ip", "netns", "add", ns), f"the namespace of {node}"))
        steps.append(_sysctl(ns, NO_IPV6, "IPv4 only"))
        steps.append(Step(_ip(ns, "link", "set", "lo", "up"), "its loopback"))

    # the internet's core: one bridge per public segment, routing between them
    for segment in network.segments:
        br = names.bridge(segment.name)
        steps += [Step(_ip(core, "link", "add", br, "type", "bridge"), f"segment {segment.name}"),
                  Step(_ip(core, "addr", "add", f"{segment.gateway}/{segment.prefixlen}",
                           "dev", br), "its gateway"),
                  Step(_ip(core, "link", "set", br, "up"), "up")]
    steps.append(_sysctl(core, {"net.ipv4.ip_forward": "1"}, "the core routes"))

    for port, nat in enumerate(network.nats):  # the routers' bridge ports: p0, p1, ...
        ns = names.namespace(nat.name)
        isp = next(s for s in network.segments if s.contains(nat.wan))
        wan, lan = names.interface("wan"), names.bridge("lan")
        peer = names.interface(f"p{port}")
        steps += [
            Step(_ip(ns, "link", "add", wan, "type", "veth", "peer", "name", peer,
                     "netns", core), f"{nat.name}'s WAN cable to {isp.name}"),
            Step(_ip(core, "link", "set", peer, "master", names.bridge(isp.name), "up"),
                 "plugged into the bridge"),
            Step(_ip(ns, "addr", "add", f"{nat.wan}/{isp.prefixlen}", "dev", wan),
                 "its public address"),
            Step(_ip(ns, "link", "set", wan, "up"), "up"),
            Step(_ip(ns, "route", "add", "default", "via", isp.gateway), "towards the core"),
            Step(_ip(ns, "link", "add", lan, "type", "bridge"), f"{nat.name}'s LAN"),
            Step(_ip(ns, "addr", "add", f"{nat.lan.gateway}/{nat.lan.prefixlen}", "dev", lan),
                 "the home's gateway"),
            Step(_ip(ns, "link", "set", lan, "up"), "up"),
            _sysctl(ns, {"net.ipv4.ip_forward": "1"}, "the router routes"),
            Step(("ip", "netns", "exec", ns, "nft", "-f", "-"),
                 f"{nat.name}: NAT {nat.kind}", stdin=nftables.ruleset(nat.kind, wan, lan)),
        ]

    ports: dict[str, int] = {}  # router node -> next port number
    for host in network.hosts:
        ns = names.namespace(host.name)
        segment = network.segment(host.segment)
        router = names.namespace(segment.router)
        number = ports.get(segment.router, 0)
        ports[segment.router] = number + 1
        eth, peer = names.interface("eth0"), names.interface(f"h{number}")
        steps += [
            Step(_ip(ns, "link", "add", eth, "type", "veth", "peer", "name", peer,
                     "netns", router), f"{host.name}'s cable to {segment.name}"),
            Step(_ip(router, "link", "set", peer, "master", names.bridge(
                segment.name if segment.router == CORE else "lan"), "up"),
                 "plugged into the bridge"),
            *(Step(_ip(ns, "addr", "add", f"{a}/{segment.prefixlen}", "dev", eth),
                   f"address {a}") for a in host.addresses),
            Step(_ip(ns, "link", "set", eth, "up"), "up"),
            Step(_ip(ns, "route", "add", "default", "via", segment.gateway),
                 f"everything else via {segment.gateway}"),
        ]
    return steps


def teardown(network: Network, names: Names) -> list[Step]:
    """Deleting every namespace deletes every interface the build made (all are inside)."""
    return [Step(("ip", "netns", "delete", names.namespace(node)), f"{node} gone")
            for node in reversed(network.nodes())]
