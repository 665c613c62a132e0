"""Whom may a TURN relay send to? The peer policy, as coturn applies it, with no sockets.

A TURN server relays on a client's behalf to *any* address the client names (RFC 8656, 9): an
open relay is a way into the network it stands on. So, like coturn, talklab refuses peers that
only make sense as an attack, unless explicitly allowed:

======================================  ==========================================  ==========
range                                   why                                         allowed by
======================================  ==========================================  ==========
0.0.0.0/8, ::                           "this host": reaches services on the server  never
multicast 224.0.0.0/4, ff00::/8         one packet to many                           never
broadcast 255.255.255.255               every host on the link                       never
loopback 127.0.0.0/8, ::1               the server's own services                   allow_loopback
shared address space 100.64.0.0/10      a carrier's NAT (RFC 6598)                   allow_private
private, link-local, unique-local       the server's own network                    allow_private
======================================  ==========================================  ==========

An IPv6 address that embeds an IPv4 one (``::ffff:127.0.0.1``, IPv4-mapped) is judged by the
IPv4 address inside: otherwise ``::ffff:127.0.0.1`` reaches 127.0.0.1 while 127.0.0.1 itself is
refused. ``networks`` are allowed whatever the table says (a teacher's class networks; note that
Python's ``ipaddress`` counts the documentation ranges used for test hosts as private), and
``only``, when given, must accept every peer *address* (IP and port), checked again for every
datagram: a lab's relay sends to the lab's own hosts and nothing else on the machine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from talklab.address import Address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SHARED = ipaddress.ip_network("100.64.0.0/10")
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
BROADCAST = ipaddress.ip_address("255.255.255.255")


@dataclass(frozen=True)
class PeerPolicy:
    allow_loopback: bool = False
    allow_private: bool = False
    networks: tuple[Network, ...] = ()
    only: Callable[[Address], bool] | None = None

    def refusal(self, ip: str) -> str | None:
        """Why a permission for ``ip`` is refused (a 403's reason), or None if allowed."""
        try:
            address = ipaddress.ip_address(ip.split("%")[0])
        except ValueError:
            return "bad peer address"
        if isinstance(address, ipaddress.IPv6Address):
            embedded = address.ipv4_mapped or address.sixtofour
            if embedded is not None:
                address = embedded
        if address.is_unspecified or address in THIS_NETWORK:
            return "'this host' (0.0.0.0/8) is never a peer"
        if address.is_multicast:
            return "multicast peers are not allowed"
        if address == BROADCAST:
            return "broadcast peers are not allowed"
        if any(address in network for network in self.networks):
            return None
        if address.is_loopback:
            return None if self.allow_loopback else "loopback peers are not allowed"
        if address in SHARED or address.is_private or address.is_link_local \
                or address.is_reserved:
            return None if self.allow_private else "private peers are not allowed"
        return None

    def allows(self, peer: Address) -> bool:
        """May a datagram go to (or come from) ``peer``, right now?"""
        if self.refusal(peer[0]) is not None:
            return False
        return self.only is None or bool(self.only(peer))
