"""The few, documented adjustments talklab makes to aiortc and aioice. Each has a test.

1. **Host candidates on loopback.** ``aioice.ice.get_host_addresses`` skips 127.0.0.1 and ::1,
   so on a machine with only ``lo`` (Binder, CI) nothing is gathered and a connection waits in
   ``new`` forever. Each talklab person instead gathers on its own loopback address
   (127.10.x.y), given through a context variable around ``setLocalDescription``: that is where
   aiortc gathers, and ``Connection.gather_candidates`` looks the function up at call time. A
   gathering without a talklab address falls back to aioice's own function.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import aioice.ice

HOST_ADDRESS: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "talklab_host_address", default=None)

_stock_get_host_addresses = aioice.ice.get_host_addresses


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    address = HOST_ADDRESS.get()
    if address is None:
        return _stock_get_host_addresses(use_ipv4, use_ipv6)
    return [address]


def install() -> None:
    """Apply the adjustments (idempotent; done when talklab is imported)."""
    aioice.ice.get_host_addresses = _get_host_addresses


@contextlib.contextmanager
def gathering_on(address: str) -> Iterator[None]:
    """Within this block (and the tasks it starts), ICE gathers host candidates on ``address``."""
    token = HOST_ADDRESS.set(address)
    try:
        yield
    finally:
        HOST_ADDRESS.reset(token)


install()
