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

The same measurement works for every topology (``Lab(topology="mesh" | "sfu" | "mcu")``): per
person, the streams that carried packets up and down during the window and what they weighed
on the wire (kbps of UDP payload: SRTP, RTCP, DTLS and STUN), and how many audio frames the
person encoded and decoded a second; for the room, the CPU of this process and, with a media
server, of the lab's Janus process (read from ``/proc/<pid>/stat``), separately.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from talklab._aiortc import access

REAL_TIME = 49.0  # packets/s: a 20 ms stream, give or take a packet


@dataclass(frozen=True)
class PersonLoad:
    """What one person sent and received during the window."""

    name: str
    upload_streams: int  # outgoing RTP streams that sent packets
    download_streams: int  # incoming RTP streams that received packets
    upload_pps: float  # packets/s sent, all streams together
    download_pps: float
    upload_kbps: float  # UDP payload sent by all the person's connections (SRTP, RTCP, ...)
    download_kbps: float
    encodes_per_s: float  # Opus frames encoded (talklab encodes once per person)
    decodes_per_s: float  # audio frames decoded, every incoming stream together


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
    topology: str = "mesh"
    server_cpu_percent: float | None = None  # the lab's Janus, of one core (None: no server)
    per_person: tuple[PersonLoad, ...] = field(default=())

    @property
    def real_time(self) -> bool:
        """Every stream keeps up with the 50 frames a second it is sent."""
        return self.streams > 0 and self.pps_min >= REAL_TIME

    def _median(self, name: str) -> float:
        values = [getattr(p, name) for p in self.per_person]
        return float(statistics.median(values)) if values else 0.0

    @property
    def upload_streams(self) -> float:
        """Streams one person uploads (the median person)."""
        return self._median("upload_streams")

    @property
    def download_streams(self) -> float:
        return self._median("download_streams")

    @property
    def upload_kbps(self) -> float:
        return self._median("upload_kbps")

    @property
    def download_kbps(self) -> float:
        return self._median("download_kbps")

    @property
    def encodes_per_s(self) -> float:
        return self._median("encodes_per_s")

    @property
    def decodes_per_s(self) -> float:
        return self._median("decodes_per_s")


# -- counters read at once --------------------------------------------------------------------
def rtp_packets(pc: Any) -> tuple[int, int]:
    """``(sent, received)`` RTP packets of an ``RTCPeerConnection`` so far: what ``getStats()``
    reports as ``packetsSent`` and ``packetsReceived``, read without awaiting (aiortc's
    counters: :func:`talklab._aiortc.access.rtp_packets`)."""
    return access.rtp_packets(pc)


def wire_bytes(pc: Any) -> tuple[int, int]:
    """``(sent, received)`` bytes of UDP payload of a connection's DTLS transports (SRTP,
    SRTCP, DTLS; STUN is not counted): ``getStats()``'s transport ``bytesSent`` and
    ``bytesReceived``, read at once."""
    return access.dtls_bytes(pc)


def links_of(person: Any) -> list[Any]:
    """A person's open links: a mesh person's calls, or a Janus room person's connections."""
    links = person.links
    return [link for link in (links.values() if isinstance(links, dict) else links)
            if not link.closed]


@dataclass
class _Reading:
    sent: dict[Any, int]  # link -> packets sent
    received: dict[Any, int]  # link -> packets received (links that receive audio)
    bytes_sent: int
    bytes_received: int
    encoded: int
    decoded: int


def _read(person: Any) -> _Reading:
    sent, received, bytes_sent, bytes_received, decoded = {}, {}, 0, 0, 0
    for link in links_of(person):
        out, into = link.packets()
        sent[link] = out
        if link.ear is not None:
            received[link] = into
            decoded += link.ear.frames
        up, down = wire_bytes(link.pc)
        bytes_sent += up
        bytes_received += down
    return _Reading(sent, received, bytes_sent, bytes_received, person.fanout.frames_encoded,
                    decoded)


def _person_load(name: str, a: _Reading, b: _Reading, dt: float) -> PersonLoad:
    up = {k: b.sent[k] - a.sent.get(k, 0) for k in b.sent}
    down = {k: b.received[k] - a.received.get(k, 0) for k in b.received}
    return PersonLoad(
        name=name, upload_streams=sum(1 for v in up.values() if v > 0),
        download_streams=sum(1 for v in down.values() if v > 0),
        upload_pps=sum(up.values()) / dt, download_pps=sum(down.values()) / dt,
        upload_kbps=8 * (b.bytes_sent - a.bytes_sent) / dt / 1000,
        download_kbps=8 * (b.bytes_received - a.bytes_received) / dt / 1000,
        encodes_per_s=(b.encoded - a.encoded) / dt, decodes_per_s=(b.decoded - a.decoded) / dt)


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
    """Watch the lab's room for ``seconds`` and report its load (any topology)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
            0.1 <= seconds <= 60):
        raise ValueError(f"seconds must be from 0.1 to 60, got {seconds!r}")
    people = [p for p in lab.people.values() if p.in_voice]
    janus = getattr(lab, "janus", None)
    server_cpu = janus.cpu_seconds if janus is not None and janus.running else None
    lag: list[float] = []
    stop = asyncio.Event()
    sampler = asyncio.ensure_future(_lag(lag, stop))
    before = [_read(p) for p in people]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    server0 = server_cpu() if server_cpu else 0.0
    await asyncio.sleep(seconds)  # the measuring window
    after = [_read(p) for p in people]
    cpu1, wall1 = time.process_time(), time.perf_counter()
    server1 = server_cpu() if server_cpu else 0.0
    stop.set()
    await sampler
    dt = wall1 - wall0
    rates = sorted((b.received[k] - a.received.get(k, 0)) / dt
                   for a, b in zip(before, after, strict=True) for k in b.received)
    loads = tuple(_person_load(p.name, a, b, dt)
                  for p, a, b in zip(people, before, after, strict=True))
    uploads = [p.upload_pps for p in loads]
    queued = _queued_kb({p.address for p in people})
    lag.sort()
    return RoomLoad(people=len(people), streams=len(rates), cpu_percent=100 * (cpu1 - cpu0) / dt,
                    pps_min=rates[0] if rates else 0.0,
                    pps_median=statistics.median(rates) if rates else 0.0,
                    upload_pps_median=statistics.median(uploads) if uploads else 0.0,
                    lag_p50_ms=1000 * lag[len(lag) // 2] if lag else 0.0,
                    lag_p99_ms=1000 * lag[min(len(lag) - 1, int(0.99 * len(lag)))] if lag
                    else 0.0, seconds=dt, queued_kb=queued,
                    topology=getattr(lab, "topology", "mesh"),
                    server_cpu_percent=100 * (server1 - server0) / dt if server_cpu else None,
                    per_person=loads)
