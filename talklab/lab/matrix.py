"""The NAT x NAT matrix: which pairs of NATs can talk, and how, measured live.

For every ordered pair of NAT types, two people each behind a NAT of their own join voice in a
room of their own; all pairs at once, in one lab. Each cell says whether the link carried
audio, by which route (host, srflx, prflx, relay), and how long it took, or how long until ICE
gave up (talklab lowers aioice's retransmissions so failure takes seconds, not a minute).

Tested in tests/test_network_lab.py (the textbook NAT x NAT matrix, the same every run, TURN only
adding relays).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from talklab.lab.lab import Lab
from talklab.nat import NAT_TYPES

DEFAULT_TYPES = tuple(NAT_TYPES)


@dataclass
class Cell:
    a: str
    b: str
    connected: bool
    route: str | None
    seconds: float
    state: str

    def __str__(self) -> str:
        return f"{self.route} {self.seconds:.2f}s" if self.connected else \
            f"failed {self.seconds:.1f}s"


async def _cell(lab: Lab, a: str, b: str, index: int, timeout: float) -> Cell:
    room = f"M{index}"
    first = await lab.join(f"{a}#{index}a", room=room, nat=a)
    second = await lab.join(f"{b}#{index}b", room=room, nat=b)
    t0 = time.monotonic()
    await first.join_voice()
    await second.join_voice()

    assert second.sid is not None
    sid = second.sid

    def decided() -> bool:
        link = first.links.get(sid)
        return link is not None and (link.state == "connected" or
                                     link.pc.connectionState in ("failed", "closed"))

    with contextlib.suppress(TimeoutError):
        await first.wait_until(decided, timeout, f"{a} x {b} decided")
    link = first.links.get(sid)
    state = link.state if link else "new"
    connected = link is not None and state == "connected"
    return Cell(a, b, connected, link.route if link is not None and connected else None,
                round(time.monotonic() - t0, 3), state)


async def nat_matrix(types: tuple[str, ...] | list[str] = DEFAULT_TYPES, *, turn: bool = False,
                     timeout: float = 15, check_retries: int = 3) -> dict[tuple[str, str], Cell]:
    """Connect a pair of people for every (a, b) in ``types`` x ``types``, concurrently.

    With ``turn=True`` the lab's TURN server is offered to everyone, so pairs that cannot
    connect directly may still connect through a relay. ``check_retries`` sets how often a
    connectivity check is retransmitted (3: a pair fails after ~7.5 s; 2: ~3.5 s)."""
    for t in types:
        if t not in NAT_TYPES:
            raise ValueError(f"unknown NAT type {t!r}; one of {sorted(NAT_TYPES)}")
    pairs = [(a, b) for a in types for b in types]
    async with Lab(stun=True, turn=turn, check_retries=check_retries) as lab:
        cells = await asyncio.gather(*(_cell(lab, a, b, i, timeout)
                                       for i, (a, b) in enumerate(pairs)))
    return {(c.a, c.b): c for c in cells}
