"""Full-mesh cost in one process: can n people talk in real time on this machine?

For each n, a lab fills one room with n people who join voice one after another, then
measures over a window of ``--window`` seconds:

* time until every link is connected (ICE + DTLS + first audio), and until every person hears
  every other's tone within 2 Hz;
* CPU of the whole process (all threads) as % of one core;
* packets/s received on each of the n(n-1) streams (50 is real time for 20 ms frames): min and
  median;
* event-loop lag (how late a 10 ms timer fires): p50 and p99;
* resident memory.

    python bench/mesh.py [--sizes 2 3 4 5 6 7 8 10] [--window 10]

The last line says whether the 6-person target holds: every stream >= 49 packets/s with the
process at most 75 % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time

import talklab


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.01)
        samples.append(time.perf_counter() - t - 0.01)


async def received(people) -> dict[tuple[str, str], int]:
    out = {}
    for p in people:
        for name, s in (await p.stats()).items():
            out[(name, p.name)] = s["packets_received"]
    return out


async def measure(n: int, window: float) -> dict:
    async with talklab.Lab(voice_cap=max(n, 6)) as lab:
        t0 = time.perf_counter()
        people = [await lab.join(f"P{i}", voice=True) for i in range(n)]
        await lab.wait_connected(timeout=30 + 5 * n)
        connected = time.perf_counter() - t0

        def all_heard() -> bool:
            for p in people:
                heard = p.hears()
                for q in people:
                    if q is not p and abs(heard.get(q.name, 0) - q.tone_hz) > 2:
                        return False
            return True

        while not all_heard() and time.perf_counter() - t0 < 60:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # (a bench's sampling: nothing publishes "all heard")
        heard = time.perf_counter() - t0 if all_heard() else float("nan")

        lag: list[float] = []
        stop = asyncio.Event()
        lag_task = asyncio.ensure_future(loop_lag(lag, stop))
        before, cpu0, w0 = await received(people), time.process_time(), time.perf_counter()
        await asyncio.sleep(window)
        after, cpu1, w1 = await received(people), time.process_time(), time.perf_counter()
        stop.set()
        await lag_task
        rates = sorted((after[k] - before.get(k, 0)) / (w1 - w0) for k in after)
        lag.sort()
        return {
            "n": n,
            "links": n * (n - 1) // 2,
            "streams": len(rates),
            "connected s": connected,
            "heard s": heard,
            "cpu %": 100 * (cpu1 - cpu0) / (w1 - w0),
            "pkt/s min": rates[0] if rates else 0.0,
            "pkt/s med": statistics.median(rates) if rates else 0.0,
            "lag p50 ms": 1000 * lag[len(lag) // 2],
            "lag p99 ms": 1000 * lag[min(len(lag) - 1, int(0.99 * len(lag)))],
            "rss MB": rss_mb(),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 3, 4, 5, 6, 7, 8, 10])
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        rows.append(await measure(n, args.window))
        row = rows[-1]
        if len(rows) == 1:
            print(" | ".join(f"{c:>11}" for c in row), flush=True)
        print(" | ".join(f"{v:>11.2f}" if isinstance(v, float) else f"{v:>11}"
                         for v in row.values()), flush=True)
    six = next((r for r in rows if r["n"] == 6), None)
    if six is not None:
        ok = six["pkt/s min"] >= 49 and six["cpu %"] <= 75
        print(f"6-person mesh real time (every stream >= 49 pkt/s, cpu <= 75 %): "
              f"{'yes' if ok else 'NO'} (min {six['pkt/s min']:.1f} pkt/s, "
              f"cpu {six['cpu %']:.0f} %)")


if __name__ == "__main__":
    asyncio.run(main())
