"""Real NATs: the nftables rule sets that make a Linux router behave as each classic NAT type.

What netfilter really does (measured in :mod:`tests.test_netlab`, kernel 6.x, nftables 1.0):

* **Mapping: endpoint-independent, by port preservation.** ``masquerade`` rewrites the source
  of a flow's first packet and conntrack remembers the flow (a 5-tuple, both directions). It
  keeps the private source port whenever the rewritten flow would still be unique, so a host
  that talks to two servers from one socket is seen on the same public port by both: the
  mapping looks endpoint-independent (RFC 4787, 4.1). It is not a table of mappings, though:
  the port is chosen again for every new flow, and kept only because nothing collides.
* **Filtering: address-and-port-dependent, by conntrack.** A packet from outside is let in only
  if it belongs to a flow conntrack knows, that is, if the host sent to exactly that address
  and port. Anything else is addressed to the router itself. So plain masquerade is a
  *port-restricted cone* NAT.
* **An open router is not even that.** If the router lets such an unsolicited packet reach its
  own (closed) port, conntrack *confirms a flow for it*: remote -> router:port. When the host
  later sends to that remote from the same port, keeping the port would collide with that flow,
  so masquerade picks another port: the mapping changed because someone knocked first. Two
  peers that both knock (ICE does exactly that) can then never meet. A firewall that drops
  unsolicited packets on the router's input (every home router has one) drops them before
  conntrack confirms anything, and port preservation holds. ``masquerade-open`` (no firewall)
  is kept to show this; it is no classic type.
* **Symmetric: ``masquerade random`` / ``fully-random``.** Both flags skip port preservation
  and draw the port at random for every new flow (on 6.x kernels the two draw alike), so each
  destination gets its own mapping: address-and-port-dependent mapping.
* **Full-cone and restricted need rules of their own.** Conntrack has no "anyone may reply"
  mode. Here an outbound flow *records* its mapping in a dynamic nftables map (public port ->
  private address and port) and, for restricted, the remote IP it went to in a dynamic set;
  a prerouting rule DNATs an unsolicited packet through the map (full-cone) or only when its
  source IP is in the set (restricted). Exact for one host per home; with several, netfilter
  keeps ports unique per remote only, so two hosts may share a public port and the last to send
  receives the unsolicited packets.
* **Not produced:** address-dependent mapping (a new port per remote IP but not per remote
  port) has no netfilter switch; it is not compared.

:func:`ruleset` returns the text of the rule set (``nft -f -``); nothing here runs a command.

Tested in tests/test_netlab.py (real NATs built from these rule sets give the routes the simulator
gives, and RFC 5780 names the kind each was built as; root only).
"""

from __future__ import annotations

from dataclasses import dataclass

from talklab.nat.behaviour import AD, APD, EI, Behaviour

TABLE = "talklab"
TIMEOUT = "2m"  # how long a recorded mapping outlives its last packet (conntrack's UDP: 120 s)


@dataclass(frozen=True)
class NatKind:
    """One way to configure a Linux NAT, and what RFC 4787 says it should behave like."""

    name: str
    masquerade: str  # the masquerade statement
    unsolicited: str  # what happens to an unsolicited packet: "drop", "map", "map-if-contacted",
    #                   or "router" (reaches the router's own closed port: no firewall)
    mapping: Behaviour | None
    filtering: Behaviour | None
    simulated: str | None  # the simulator's NAT type to compare with; None: not comparable
    summary: str

    @property
    def classic(self) -> str | None:
        """The classic name of the behaviour it should have (RFC 4787 + RFC 3489)."""
        from talklab.nat.behaviour import nat_type
        if self.mapping is None or self.filtering is None:
            return None
        return nat_type(self.mapping, self.filtering)


KINDS: dict[str, NatKind] = {k.name: k for k in (
    NatKind("full-cone", "masquerade", "map", EI, EI, "full-cone",
            "masquerade; unsolicited packets DNAT'd through the recorded mappings"),
    NatKind("restricted", "masquerade", "map-if-contacted", EI, AD, "restricted",
            "masquerade; DNAT'd only from IPs the mapping has sent to"),
    NatKind("port-restricted", "masquerade", "drop", EI, APD, "port-restricted",
            "plain masquerade (conntrack), unsolicited input dropped"),
    NatKind("symmetric", "masquerade random", "drop", APD, APD, "symmetric",
            "masquerade random: a random port per flow"),
    NatKind("symmetric-fully-random", "masquerade fully-random", "drop", APD, APD, "symmetric",
            "masquerade fully-random"),
    NatKind("masquerade-open", "masquerade", "router", None, None, None,
            "plain masquerade, no firewall: unsolicited packets reach the router's closed "
            "ports and conntrack remembers them"),
)}


def ruleset(kind: str | NatKind, wan: str, lan: str) -> str:
    """The nftables rule set of a router NATting from interface ``lan`` out of ``wan``."""
    k = KINDS[kind] if isinstance(kind, str) else kind
    if not k.masquerade.startswith("masquerade"):
        raise ValueError(f"{k.name}: not a masquerade statement: {k.masquerade!r}")
    lines = [f"table ip {TABLE} {{"]
    dnat = k.unsolicited in ("map", "map-if-contacted")
    if dnat:
        lines += [
            "  # public port -> the private address and port it stands for",
            f"  map mapped {{ type inet_service : ipv4_addr . inet_service; "
            f"flags dynamic, timeout; timeout {TIMEOUT}; }}",
            "  # (public port, remote IP): whom each mapping has sent to",
            f"  set contacted {{ type inet_service . ipv4_addr; "
            f"flags dynamic, timeout; timeout {TIMEOUT}; }}",
        ]
    if k.unsolicited != "router":
        lines += [
            "  chain input {",
            "    type filter hook input priority filter; policy accept;",
            f'    iifname "{wan}" ct state established,related accept',
            f'    iifname "{wan}" drop',
            "  }",
        ]
    lines += [
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        f'    iifname "{wan}" ct state established,related accept',
        f'    iifname "{wan}" ct status dnat accept',
        f'    iifname "{wan}" drop',
        "  }",
    ]
    if dnat:
        gate = "udp dport . ip saddr @contacted " if k.unsolicited == "map-if-contacted" else ""
        lines += [
            "  chain prerouting {",
            "    type nat hook prerouting priority dstnat;",
            f'    iifname "{wan}" {gate}dnat ip to udp dport map @mapped',
            "  }",
        ]
    lines += [
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat;",
        f'    oifname "{wan}" {k.masquerade}',
        "  }",
    ]
    if dnat:
        lines += [
            "  chain remember {",  # after srcnat: conntrack's reply tuple holds the mapping
            "    type filter hook postrouting priority srcnat + 1;",
            f'    oifname "{wan}" meta l4proto udp ct direction original '
            "update @mapped { ct reply proto-dst : ct original ip saddr . ct original proto-src }",
            f'    oifname "{wan}" meta l4proto udp ct direction original '
            "update @contacted { ct reply proto-dst . ip daddr }",
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"
