"""Loopback addresses for simulated machines: handed out, taken back, never two at once.

Linux routes all of 127.0.0.0/8 to ``lo``, and any process may bind any address in it, so each
simulated host can have an address of its own without root. talklab uses two blocks: private
addresses of hosts (127.10.x.y) and public addresses of NATs (127.20.x.y). A :class:`Pool` gives
out the lowest free address of its block (``.0`` and ``.255`` in the last byte are skipped, as a
reader expects of host addresses) and takes addresses back when their host or NAT closes, so a
kernel that runs many labs keeps reusing a few hundred addresses instead of running out.

Tested in tests/test_aiortc_adjustments.py (three hundred NAT hosts over several labs never share an
address, and a closed lab's addresses are handed out again).
"""

from __future__ import annotations

import heapq

HOSTS_PER_BLOCK = 256 * 254  # x in 0..255, y in 1..254


class AddressesExhausted(RuntimeError):
    """Every address of a block is in use."""


class Pool:
    """The addresses ``127.<block>.x.y`` in use, and the next free one."""

    def __init__(self, block: int) -> None:
        if not 1 <= block <= 254:
            raise ValueError("the block is the second byte of a 127.x.y.z address, 1..254")
        self.block = block
        self._in_use: set[int] = set()
        self._returned: list[int] = []  # a heap of numbers given back, lowest first
        self._next = 0  # numbers from here on were never handed out

    def address(self, number: int) -> str:
        """The ``number``-th address of the block (0 -> 127.B.0.1)."""
        return f"127.{self.block}.{number // 254}.{number % 254 + 1}"

    def number(self, address: str) -> int | None:
        parts = address.split(".")
        if len(parts) != 4 or parts[:2] != ["127", str(self.block)]:
            return None
        x, y = int(parts[2]), int(parts[3])
        if not (0 <= x <= 255 and 1 <= y <= 254):
            return None
        return x * 254 + y - 1

    def take(self) -> str:
        """A free address, now in use."""
        while self._returned:
            number = heapq.heappop(self._returned)
            if number not in self._in_use:
                break
        else:
            while self._next in self._in_use:  # (some were claimed by name, see claim)
                self._next += 1
            if self._next >= HOSTS_PER_BLOCK:
                raise AddressesExhausted(f"all {HOSTS_PER_BLOCK} addresses of 127.{self.block}"
                                         ".0.0/16 are in use: close some labs")
            number, self._next = self._next, self._next + 1
        self._in_use.add(number)
        return self.address(number)

    def claim(self, address: str) -> None:
        """Mark an address chosen by name as in use (other addresses are not the pool's)."""
        number = self.number(address)
        if number is not None:
            self._in_use.add(number)

    def give_back(self, address: str) -> None:
        """The host or NAT using ``address`` has closed: it may be handed out again."""
        number = self.number(address)
        if number is not None and number in self._in_use:
            self._in_use.discard(number)
            heapq.heappush(self._returned, number)

    @property
    def in_use(self) -> int:
        return len(self._in_use)


HOSTS = Pool(10)  # machines' own (private, when behind a NAT) addresses
NATS = Pool(20)  # NATs' public addresses
