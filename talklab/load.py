"""How hard is the room working? CPU, packets per stream and event-loop lag, measured live.

The seed says a mesh tops out at about six people "(each user has 5 connections!)" and that 10
"would kill most browsers". Every person in a lab lives in this one Python process, which is
one browser's worth of machine for everybody: :func:`measure` says, over a window, whether the
room still runs in real time. A stream is real time at 50 packets a second (20 ms frames); the
process's CPU is in percent of one core; loop lag is how late a 10 ms timer fires, the delay
every packet of every call waits on top of the network.

When the process falls behind, the packets it has not read yet wait in each socket's receive
queue in the kernel (aioice asks for 512 KB per socket): the voice arrives later and later, and
once a queue is full the kernel drops what no longer fits. ``queued_kb`` is what waits in the
room's sockets at the end of the window (from ``/proc/net/udp``, Linux only).

The counters are read all at once, at the two ends of the window (:meth:`Link.packets`), not
through ``getStats()``: in a room that has fallen behind, every await waits its turn on the
loop, and a window stretched by its own measuring would flatter the room.
"""

from __future__ import annotations

import asyncio
import socket
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
    upload_pps_median: float  # packets/s one person sends, all their calls together
    lag_p50_ms: float
    lag_p99_ms: float
    seconds: float
    queued_kb: float | None = None  # waiting in the room's UDP receive queues (None: not Linux)

    @property
    def real_time(self) -> bool:
        """Every stream keeps up with the 50 frames a second it is sent."""
        return self.streams > 0 and self.pps_min >= REAL_TIME


def _counters(people: list[Any]) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Packets received on each stream (sender, receiver), and sent by each person."""
    received, sent = {}, {}
    for p in people:
        sent[p.name] = 0
        for link in list(p.links.values()):
            out, into = link.packets()
            received[(link.remote_name, p.name)] = into
            sent[p.name] += out
    return received, sent


def _queued_kb(addresses: set[str], table: str = "/proc/net/udp") -> float | None:
    """Bytes waiting in the receive queues of UDP sockets bound to ``addresses`` (IPv4), in KB.
    Each row of ``/proc/net/udp`` has ``local_address`` as little-endian hex ``0100007F:port``
    and ``tx_queue:rx_queue`` in hex."""
    wanted = {socket.inet_aton(a)[::-1].hex().upper() for a in addresses if "." in a}
    try:
        with open(table) as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return None
    total = 0
    for row in rows:
        fields = row.split()
        if len(fields) > 4 and fields[1].split(":")[0] in wanted:
            total += int(fields[4].split(":")[1], 16)
    return total / 1024


async def _lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.01)  # (the measurement: how late does this timer fire?)
        samples.append(time.perf_counter() - t - 0.01)


async def measure(lab: Any, seconds: float = 2.0) -> RoomLoad:
    """Watch the lab's room for ``seconds`` and report its load."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
            0.1 <= seconds <= 60):
        raise ValueError(f"seconds must be from 0.1 to 60, got {seconds!r}")
    people = [p for p in lab.people.values() if p.in_voice]
    lag: list[float] = []
    stop = asyncio.Event()
    sampler = asyncio.ensure_future(_lag(lag, stop))
    (before, sent0), cpu0, wall0 = _counters(people), time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)  # the measuring window
    (after, sent1), cpu1, wall1 = _counters(people), time.process_time(), time.perf_counter()
    stop.set()
    await sampler
    dt = wall1 - wall0
    rates = sorted((after[k] - before.get(k, 0)) / dt for k in after)
    uploads = [(sent1[name] - sent0.get(name, 0)) / dt for name in sent1]
    queued = _queued_kb({p.address for p in people})
    lag.sort()
    return RoomLoad(people=len(people), streams=len(rates), cpu_percent=100 * (cpu1 - cpu0) / dt,
                    pps_min=rates[0] if rates else 0.0,
                    pps_median=statistics.median(rates) if rates else 0.0,
                    upload_pps_median=statistics.median(uploads) if uploads else 0.0,
                    lag_p50_ms=1000 * lag[len(lag) // 2] if lag else 0.0,
                    lag_p99_ms=1000 * lag[min(len(lag) - 1, int(0.99 * len(lag)))] if lag
                    else 0.0, seconds=dt, queued_kb=queued)
