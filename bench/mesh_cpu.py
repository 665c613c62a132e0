"""Full-mesh cost in one process: can n people talk in real time on this machine?

For each n, a lab fills one room with n people who join voice one after another, then
measures over a window of ``--window`` seconds:

* time until every link is connected (ICE + DTLS + first audio), and until every person hears
  every other's tone within 2 Hz;
* CPU of the whole process (all threads) as % of one core, and per 1,000 packets delivered;
* packets/s received on each of the n(n-1) streams (50 is real time for 20 ms frames): min and
  median;
* event-loop lag (how late a 10 ms timer fires): p50 and p99;
* resident memory.

Each size runs in three ways, one after the other, in the same process:

* ``plain``: the baseline, plain aiortc. One ``RTCPeerConnection`` per pair, each with a voice
  track of its own (so aiortc's encoder per connection), aiortc's jitter buffers and decoder
  threads, the descriptions handed over in-process (no signaling server). Only the loopback
  gathering every lab needs is changed (adjustment 1 of :mod:`talklab._aiortc`), and consent
  checks retransmit (adjustment 4) so that a busy baseline does not end its own calls;
* ``threads``: talklab's people (one encode per person, fanned out) with aiortc's decoder
  threads;
* ``loop``: talklab as a lab runs it, audio decoded on the loop (adjustment 7).

Absolute times differ between machines of the same kind, so the figures to compare are the
ratio lines: CPU per delivered packet, talklab / plain (plain aiortc cannot keep six people
real time here, so its raw CPU would flatter it), and packets delivered.

    python bench/mesh_cpu.py [--sizes 2 4 6 8 10] [--window 5]

The last line says whether a room of six runs in real time with talklab's decoding: every
stream >= 49 packets/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import resource
import statistics
import time

from aiortc import RTCConfiguration, RTCPeerConnection

import talklab
from talklab import _aiortc
from talklab._aiortc import Settings
from talklab.browser.hearing import Ear
from talklab.browser.media import SyntheticVoice
from talklab.lab.load import REAL_TIME, rtp_packets

MODES = ("plain", "threads", "loop")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.01)  # (the measurement: how late does this timer fire?)
        samples.append(time.perf_counter() - t - 0.01)


async def measure(n: int, window: float, mode: str) -> dict:
    if mode == "plain":
        return await measure_plain(n, window)
    async with talklab.Lab(voice_cap=max(n, 6)) as lab:
        lab.settings = dataclasses.replace(lab.settings,
                                           decoding="thread" if mode == "threads" else "loop")
        t0 = time.perf_counter()
        people = [await lab.join(f"P{i}", voice=True) for i in range(n)]
        await lab.wait_connected(timeout=30 + 5 * n)
        connected = time.perf_counter() - t0
        heard = float("nan")
        try:
            for p in people:
                await p.wait_heard(1.0, timeout=max(1.0, 60 - (time.perf_counter() - t0)))
            if all(abs(p.hears().get(q.name, 0) - q.tone_hz) <= 2
                   for p in people for q in people if q is not p):
                heard = time.perf_counter() - t0
        except TimeoutError:
            pass

        counters = [link.packets for p in people for link in p.links.values()]
        return await window_of(n, mode, counters, window, connected, heard)


async def window_of(n: int, mode: str, counters: list, window: float, connected: float,
                    heard: float) -> dict:
    """Measure a running room over ``window`` s: ``counters`` are functions returning one
    stream's ``(sent, received)`` packets, read at once at both ends of the window."""
    lag: list[float] = []
    stop = asyncio.Event()
    lag_task = asyncio.ensure_future(loop_lag(lag, stop))
    before, cpu0, w0 = [c()[1] for c in counters], time.process_time(), time.perf_counter()
    await asyncio.sleep(window)  # the measuring window
    after, cpu1, w1 = [c()[1] for c in counters], time.process_time(), time.perf_counter()
    stop.set()
    await lag_task
    rates = sorted((a - b) / (w1 - w0) for a, b in zip(after, before, strict=True))
    delivered = sum(after) - sum(before)
    lag.sort()
    return {
        "n": n,
        "mode": mode,
        "streams": len(rates),
        "connected s": connected,
        "heard s": heard,
        "cpu %": 100 * (cpu1 - cpu0) / (w1 - w0),
        "cpu ms/1k pkt": 1e6 * (cpu1 - cpu0) / delivered if delivered else float("nan"),
        "pkt/s min": rates[0] if rates else 0.0,
        "pkt/s med": statistics.median(rates) if rates else 0.0,
        "lag p50 ms": 1000 * lag[len(lag) // 2],
        "lag p99 ms": 1000 * lag[min(len(lag) - 1, int(0.99 * len(lag)))],
        "rss MB": rss_mb(),
    }


def plain_counter(pc: RTCPeerConnection):
    """``(sent, received)`` RTP packets of a plain connection (what getStats reports)."""
    return lambda: rtp_packets(pc)


async def measure_plain(n: int, window: float) -> dict:
    """The baseline: n people in plain aiortc, a connection per pair, a track per connection."""
    settings = Settings(decoding="thread", nomination="first")
    with _aiortc.running(settings):
        pcs: list[RTCPeerConnection] = []
        ears: list[tuple[Ear, float]] = []
        streams = []
        t0 = time.perf_counter()

        def connection(i: int, tone: float) -> RTCPeerConnection:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            voice = SyntheticVoice(tone)  # a track of its own: aiortc encodes per connection
            streams.append(voice)
            pc.addTrack(voice)
            pc.talklab_host = f"127.10.250.{i + 1}"  # type: ignore[attr-defined]
            pcs.append(pc)
            return pc

        tones = [220.0 + 40 * i for i in range(n)]
        for a in range(n):
            for b in range(a + 1, n):
                offerer, answerer = connection(a, tones[a]), connection(b, tones[b])
                for pc, tone in ((offerer, tones[b]), (answerer, tones[a])):
                    ear = Ear()
                    ears.append((ear, tone))
                    pc.on("track", lambda track, ear=ear: ear.listen(track))
                with _aiortc.gathering_on(offerer.talklab_host):  # type: ignore[attr-defined]
                    await offerer.setLocalDescription(await offerer.createOffer())
                await answerer.setRemoteDescription(offerer.localDescription)
                with _aiortc.gathering_on(answerer.talklab_host):  # type: ignore[attr-defined]
                    await answerer.setLocalDescription(await answerer.createAnswer())
                await offerer.setRemoteDescription(answerer.localDescription)
        try:
            await asyncio.gather(*(ear.wait_frames(1, 30 + 5 * n) for ear, _ in ears))
            connected = time.perf_counter() - t0
            heard = float("nan")
            with contextlib.suppress(TimeoutError):
                await asyncio.gather(*(ear.wait_frames(50, 60) for ear, _ in ears))
                if all(abs((ear.pitch() or 0) - tone) <= 2 for ear, tone in ears):
                    heard = time.perf_counter() - t0
            return await window_of(n, "plain", [plain_counter(pc) for pc in pcs], window,
                                   connected, heard)
        finally:
            for ear, _ in ears:
                await ear.stop()
            for voice in streams:
                voice.stop()
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)


def show(row: dict, header: bool) -> None:
    if header:
        print(" | ".join(f"{c:>13}" for c in row), flush=True)
    print(" | ".join(f"{v:>13.2f}" if isinstance(v, float) else f"{v:>13}"
                     for v in row.values()), flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 6, 8, 10])
    parser.add_argument("--window", type=float, default=5.0)
    args = parser.parse_args()
    rows: dict[tuple[int, str], dict] = {}
    for n in args.sizes:
        for mode in MODES:
            rows[(n, mode)] = await measure(n, args.window, mode)
            show(rows[(n, mode)], header=len(rows) == 1)
    for n in args.sizes:
        base = rows[(n, "plain")]
        for mode in ("threads", "loop"):
            ours = rows[(n, mode)]
            cpu = ours["cpu ms/1k pkt"] / base["cpu ms/1k pkt"]
            rate = ours["pkt/s med"] / base["pkt/s med"] if base["pkt/s med"] else float("nan")
            print(f"n={n}: {mode} / plain: cpu per delivered packet = {cpu:.2f}, "
                  f"packets delivered = {rate:.2f}", flush=True)
    six = rows.get((6, "loop"))
    if six is not None:
        ok = six["pkt/s min"] >= REAL_TIME
        ratio = six["cpu ms/1k pkt"] / rows[(6, "plain")]["cpu ms/1k pkt"]
        print(f"6-person mesh: talklab's cpu per delivered packet is {ratio:.2f} x plain "
              f"aiortc's (target <= 0.5), every stream real time (>= {REAL_TIME:.0f} pkt/s): "
              f"{'yes' if ok else 'NO'} (min {six['pkt/s min']:.1f} pkt/s, cpu "
              f"{six['cpu %']:.0f} %; plain: min {rows[(6, 'plain')]['pkt/s min']:.1f} pkt/s, "
              f"cpu {rows[(6, 'plain')]['cpu %']:.0f} %)")


if __name__ == "__main__":
    asyncio.run(main())
