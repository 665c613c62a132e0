"""Transport addresses, and the one rule every talklab socket follows: stay on loopback.

An :data:`Address` is what Python's sockets use for IPv4 and IPv6 UDP/TCP endpoints: an
``(ip, port)`` tuple. STUN calls the same thing a *transport address* (RFC 8489, section 3).
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
