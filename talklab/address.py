"""Transport addresses, and the one rule every talklab socket follows: stay on loopback.

An :data:`Address` is what Python's sockets use for IPv4 and IPv6 UDP/TCP endpoints: an
``(ip, port)`` tuple. STUN calls the same thing a *transport address* (RFC 8489, section 3).

Tested in tests/test_classroom.py (a Scope of loopback, of any unicast address or of the networks
named, and what it never lets be a peer).
"""

from __future__ import annotations

import ipaddress

Address = tuple[str, int]


def is_loopback(host: object) -> bool:
    """True for 127.0.0.0/8 and ::1 (a zone suffix such as ``%lo`` is ignored). A hostname,
    mDNS ``.local`` names included, is never loopback here: it would need a lookup."""
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def show(address: Address) -> str:
    """``ip:port`` (``[ip]:port`` for IPv6), as a learner reads it."""
    ip, port = address[0], address[1]
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class Scope:
    """Which remote addresses a person's ICE agent may check: where its packets may go.

    A local lab's people are on loopback, and so is everything they talk to
    (:meth:`loopback`). A student in a class (``Lab(server=URL)`` with a URL beyond loopback)
    talks to classmates on the school's network or behind their home NATs: any unicast address
    (:meth:`unicast`), or only the ``networks`` a teacher names. Going beyond loopback is the
    student's explicit choice of the teacher's address; the default is loopback.
    """

    def __init__(self, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None,
                 name: str) -> None:
        self.networks, self.name = networks, name

    @classmethod
    def loopback(cls) -> Scope:
        return cls([ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")],
                   "loopback")

    @classmethod
    def unicast(cls, networks: list[str] | None = None) -> Scope:
        """Any unicast address (not multicast, unspecified or broadcast), or only ``networks``
        (CIDR strings; ValueError for one that is not)."""
        if networks is None:
            return cls(None, "any unicast address")
        parsed = [ipaddress.ip_network(n, strict=False) for n in networks]
        return cls(parsed, ", ".join(str(n) for n in parsed))

    def allows(self, host: object) -> bool:
        try:
            ip = ipaddress.ip_address(str(host).split("%")[0])
        except ValueError:
            return False  # (a hostname, an mDNS .local name: it would need a lookup)
        if self.networks is None:
            return not (ip.is_multicast or ip.is_unspecified
                        or str(ip) == "255.255.255.255")
        return any(ip in net for net in self.networks)

    def __repr__(self) -> str:
        return f"<Scope {self.name}>"


LOOPBACK = Scope.loopback()
