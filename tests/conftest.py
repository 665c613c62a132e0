"""Shared fixtures, and the guard that keeps every test on loopback.

The guard is a Python audit hook (PEP 578): every ``connect``, ``sendto`` and ``bind`` made by
any socket in this process is checked, and a test fails if one of them named an address outside
127.0.0.0/8 or ::1. That covers aiortc's and aioice's UDP sockets, Socket.IO and aiohttp alike.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

import pytest

_violations: list[str] = []


def _is_loopback(host: object) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple) -> None:
    if event not in ("socket.connect", "socket.sendto", "socket.bind"):
        return
    sock, address = args[0], args[1]
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        _violations.append(f"{event} {address!r}")


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def only_loopback():
    """Fail any test that made a socket reach (or listen) beyond loopback."""
    _violations.clear()
    yield
    found, _violations[:] = list(_violations), []
    assert not found, f"sockets left loopback: {found[:5]}"


# -- the fixtures test modules share ---------------------------------------------------------------
# (fast_path, server, clients, http, redis: in tests/server_fixtures.py, beside the helpers they
# are made of; the answer keys and other helpers are in tests/helpers.py)
pytest_plugins = ["server_fixtures"]
