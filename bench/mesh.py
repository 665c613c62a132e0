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

Each size runs twice in the same process: ``threads`` is aiortc's own decoding (a thread per
receiver, the baseline) and ``loop`` is talklab's (adjustment 7, :mod:`talklab._aiortc.decoding`).
Absolute times differ between machines of the same kind, so the figures to compare are the
ratio lines: CPU per delivered packet and packets delivered, loop / threads.

    python bench/mesh.py [--sizes 2 4 6 8 10] [--window 5]

The last line says whether a room of six runs in real time with talklab's decoding: every
stream >= 49 packets/s.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import resource
import statistics
import time

import talklab
from talklab.load import REAL_TIME

MODES = ("threads", "loop")


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


async def received(people) -> dict[tuple[str, str], int]:
    out = {}
    for p in people:
        for name, s in (await p.stats()).items():
            out[(name, p.name)] = s["packets_received"]
    return out


async def measure(n: int, window: float, mode: str) -> dict:
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

        lag: list[float] = []
        stop = asyncio.Event()
        lag_task = asyncio.ensure_future(loop_lag(lag, stop))
        before, cpu0, w0 = await received(people), time.process_time(), time.perf_counter()
        await asyncio.sleep(window)  # the measuring window
        after, cpu1, w1 = await received(people), time.process_time(), time.perf_counter()
        stop.set()
        await lag_task
        rates = sorted((after[k] - before.get(k, 0)) / (w1 - w0) for k in after)
        delivered = sum(after[k] - before.get(k, 0) for k in after)
        lag.sort()
        return {
            "n": n,
            "decoding": mode,
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
        base, ours = rows[(n, "threads")], rows[(n, "loop")]
        cpu = ours["cpu ms/1k pkt"] / base["cpu ms/1k pkt"]
        rate = ours["pkt/s med"] / base["pkt/s med"] if base["pkt/s med"] else float("nan")
        print(f"n={n}: cpu per delivered packet, loop / threads = {cpu:.2f}; "
              f"packets delivered, loop / threads = {rate:.2f}", flush=True)
    six = rows.get((6, "loop"))
    if six is not None:
        ok = six["pkt/s min"] >= REAL_TIME
        threads = rows[(6, "threads")]
        print(f"6-person mesh real time with talklab's decoding (every stream >= "
              f"{REAL_TIME:.0f} pkt/s): {'yes' if ok else 'NO'} (min {six['pkt/s min']:.1f} "
              f"pkt/s, cpu {six['cpu %']:.0f} %, threads' cpu {threads['cpu %']:.0f} %)")


if __name__ == "__main__":
    asyncio.run(main())
