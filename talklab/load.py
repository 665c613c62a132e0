"""How hard is the room working? CPU, packets per stream and event-loop lag, measured live.

The seed says a mesh tops out at about six people "(each user has 5 connections!)" and that 10
"would kill most browsers". Every person in a lab lives in this one Python process, which is
one browser's worth of machine for everybody: :func:`measure` says, over a window, whether the
room still runs in real time. A stream is real time at 50 packets a second (20 ms frames); the
process's CPU is in percent of one core; loop lag is how late a 10 ms timer fires, the delay
every packet of every call waits on top of the network.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

REAL_TIME = 49.0  # packets/s: a 20 ms stream, give or take a packet


@dataclass(frozen=True)
class RoomLoad:
    people: int
    streams: int  # audio streams received, all people together: n(n-1) in a full mesh
    cpu_percent: float  # of one core, the whole process
    pps_min: float  # packets/s on the slowest stream
    pps_median: float
    lag_p50_ms: float
    lag_p99_ms: float
    seconds: float

    @property
    def real_time(self) -> bool:
        """Every stream keeps up with the 50 frames a second it is sent."""
        return self.streams > 0 and self.pps_min >= REAL_TIME


async def _received(people: list[Any]) -> dict[tuple[str, str], int]:
    out = {}
    for p in people:
        for link in list(p.links.values()):
            out[(link.remote_name, p.name)] = (await link.stats()).packets_received
    return out


async def _lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.01)  # (the measurement: how late does this timer fire?)
        samples.append(time.perf_counter() - t - 0.01)


async def measure(lab: Any, seconds: float = 2.0) -> RoomLoad:
    """Watch the lab's room for ``seconds`` and report its load."""
    people = [p for p in lab.people.values() if p.in_voice]
    lag: list[float] = []
    stop = asyncio.Event()
    sampler = asyncio.ensure_future(_lag(lag, stop))
    before, cpu0, wall0 = await _received(people), time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)  # the measuring window
    after, cpu1, wall1 = await _received(people), time.process_time(), time.perf_counter()
    stop.set()
    await sampler
    dt = wall1 - wall0
    rates = sorted((after[k] - before.get(k, 0)) / dt for k in after)
    lag.sort()
    return RoomLoad(people=len(people), streams=len(rates), cpu_percent=100 * (cpu1 - cpu0) / dt,
                    pps_min=rates[0] if rates else 0.0,
                    pps_median=statistics.median(rates) if rates else 0.0,
                    lag_p50_ms=1000 * lag[len(lag) // 2] if lag else 0.0,
                    lag_p99_ms=1000 * lag[min(len(lag) - 1, int(0.99 * len(lag)))] if lag
                    else 0.0, seconds=dt)
