"""How a NAT maps and filters (RFC 4787), as plain tables: no sockets here.

A NAT gives each outgoing flow a *mapping*: a public address and port standing in for the
private one. Two behaviours decide everything ICE will experience (RFC 4787, 4.1 and 5):

* **Mapping** — when does a private endpoint get a *new* public port?
  endpoint-independent (never: one mapping for all destinations), address-dependent (per
  destination IP), address-and-port-dependent (per destination IP and port).
* **Filtering** — which inbound packets does a mapping let through?
  endpoint-independent (anyone's), address-dependent (only from IPs it has sent to),
  address-and-port-dependent (only from exact IP:port it has sent to).

The classic names are combinations of the two:

=================  ===========================  ===========================
type               mapping                      filtering
=================  ===========================  ===========================
full-cone          endpoint-independent         endpoint-independent
restricted         endpoint-independent         address-dependent
port-restricted    endpoint-independent         address-and-port-dependent
symmetric          address-and-port-dependent   address-and-port-dependent
=================  ===========================  ===========================

:class:`NatTable` applies them, packet by packet: :meth:`~NatTable.outbound` returns the public
source for a packet leaving, :meth:`~NatTable.inbound` the private destination for a packet
arriving, or ``None`` when the filter drops it.

Tested in tests/test_nat.py (each classic type's mapping and filtering, packet by packet through a
NatTable, no sockets).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from talklab.address import Address


class Behaviour(enum.Enum):
    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"

    def key(self, remote: Address) -> tuple:
        """What of the remote endpoint this behaviour pays attention to."""
        if self is Behaviour.ENDPOINT_INDEPENDENT:
            return ()
        if self is Behaviour.ADDRESS_DEPENDENT:
            return (remote[0],)
        return remote


EI, AD, APD = (Behaviour.ENDPOINT_INDEPENDENT, Behaviour.ADDRESS_DEPENDENT,
               Behaviour.ADDRESS_AND_PORT_DEPENDENT)

NAT_TYPES: dict[str, tuple[Behaviour, Behaviour]] = {
    "full-cone": (EI, EI),
    "restricted": (EI, AD),
    "port-restricted": (EI, APD),
    "symmetric": (APD, APD),
}


def nat_type(mapping: Behaviour, filtering: Behaviour) -> str:
    """The classic name for a (mapping, filtering) pair, or a description if it has none."""
    for name, behaviours in NAT_TYPES.items():
        if behaviours == (mapping, filtering):
            return name
    return f"{mapping.value} mapping, {filtering.value} filtering"


@dataclass
class Mapping:
    private: Address
    public: Address
    sent_to: set = field(default_factory=set)  # remotes contacted through this mapping


@dataclass
class NatCounters:
    mappings: int = 0
    packets_out: int = 0
    packets_in: int = 0
    dropped_by_filter: int = 0


class NatTable:
    """The state of one NAT: its mappings, and the rule that fills and checks them."""

    def __init__(self, public_ip: str, mapping: Behaviour, filtering: Behaviour) -> None:
        self.public_ip = public_ip
        self.mapping, self.filtering = mapping, filtering
        # a filtering rule written by hand (notebook 06): (remotes sent to, remote) -> let in?
        self.rule: Callable[[frozenset[Address], Address], bool] | None = None
        self.rule_error: str | None = None  # the first exception the rule raised
        self.by_flow: dict[tuple, Mapping] = {}  # (private, mapping key) -> Mapping
        self.by_public: dict[Address, Mapping] = {}
        self.counters = NatCounters()

    def outbound(self, private: Address, remote: Address,
                 new_port: Callable[[], int]) -> Address:
        """The public source of a packet from ``private`` to ``remote``. ``new_port()`` is
        asked for a free public port when the behaviour calls for a new mapping."""
        flow = (private, self.mapping.key(remote))
        entry = self.by_flow.get(flow)
        if entry is None:
            entry = Mapping(private, (self.public_ip, new_port()))
            self.by_flow[flow] = entry
            self.by_public[entry.public] = entry
            self.counters.mappings += 1
        entry.sent_to.add(remote)
        self.counters.packets_out += 1
        return entry.public

    def inbound(self, public: Address, remote: Address) -> Address | None:
        """Where a packet from ``remote`` to ``public`` goes inside, or ``None`` if dropped."""
        entry = self.by_public.get(public)
        if entry is None or not self.allows(entry, remote):
            self.counters.dropped_by_filter += 1
            return None
        self.counters.packets_in += 1
        return entry.private

    def allows(self, entry: Mapping, remote: Address) -> bool:
        """The filter (RFC 4787, 5): may a packet from ``remote`` come in through ``entry``?"""
        if self.rule is not None:
            try:
                return bool(self.rule(frozenset(entry.sent_to), remote))
            except Exception as exc:  # a hand-written rule that fails drops the packet
                self.rule_error = self.rule_error or f"{type(exc).__name__}: {exc}"
                return False
        if self.filtering is EI:
            return True
        if self.filtering is AD:
            return any(r[0] == remote[0] for r in entry.sent_to)
        return remote in entry.sent_to

    def rows(self) -> list[dict]:
        """The mapping table, for a notebook."""
        return [{"private": f"{m.private[0]}:{m.private[1]}",
                 "public": f"{m.public[0]}:{m.public[1]}",
                 "sent to": ", ".join(f"{h}:{p}" for h, p in sorted(m.sent_to))}
                for m in self.by_public.values()]
