"""Dave joins voice: how long from his click to first audio from each of the three others?

Alice, Bob and Charlie are in voice (connected, hearing each other); Dave is in the room. The
clock starts when Dave emits ``joinVoice`` and stops when Dave has decoded a first audio frame
from all three (the seed's Steps 2 to 9). Each stage is read from the timelines of Dave's three
links and reported when *all three* reached it (the slowest link decides):

* ``offer received``: Steps 2-4, the server's broadcast and the three offers relayed;
* ``answer sent``: Step 5, Dave's answers (setRemoteDescription, createAnswer, gathering);
* ``ICE checking`` / ``ICE completed``: Step 8, the connectivity checks and the nomination;
* ``connection connected``: DTLS done (SRTP keys), Step 9 may start;
* ``first audio frame``: the first RTP packet through the jitter buffer and the decoder.

    python bench/dave.py [--runs 10]

Every figure is a median over the runs (ms after joinVoice). The last line compares with
the room of the previous join measured in the same runs (Charlie's, with two in voice): the
absolute times differ between machines of the same kind, their ratio less.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import talklab

STAGES = ("offer received", "answer sent", "ICE checking", "ICE completed",
          "connection connected", "first audio frame")


def all_reached(person, stage: str, t0: float) -> float | None:
    """ms after ``t0`` when every one of ``person``'s links had reached ``stage``."""
    times = []
    for link in person.links.values():
        at = [t for t, what in link.timeline if what.startswith(stage) and t >= t0]
        if not at:
            return None
        times.append(min(at))
    return 1000 * (max(times) - t0) if times else None


async def joins(person, t0: float, others: int) -> None:
    def heard_all() -> bool:
        return (len(person.links) == others
                and all(link.ear.first_frame_at is not None for link in person.links.values()))
    await person.wait_until(heard_all, 15, "first audio from everyone")


async def one_run() -> tuple[dict[str, float | None], float, float]:
    async with talklab.Lab() as lab:
        for name in ("Alice", "Bob"):
            await lab.join(name, voice=True)
        await lab.wait_connected()
        charlie = await lab.join("Charlie")
        t_charlie = time.monotonic()
        await charlie.join_voice()
        await joins(charlie, t_charlie, 2)
        charlie_ms = 1000 * (time.monotonic() - t_charlie)
        await lab.wait_connected()
        for p in lab.people.values():
            await p.wait_heard(0.3)
        dave = await lab.join("Dave")
        t0 = time.monotonic()
        await dave.join_voice()
        await joins(dave, t0, 3)
        total = 1000 * (time.monotonic() - t0)
        return {s: all_reached(dave, s, t0) for s in STAGES}, total, charlie_ms


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    totals, charlies = [], []
    for _ in range(args.runs):
        at, total, charlie = await one_run()
        for s, ms in at.items():
            if ms is not None:
                stages[s].append(ms)
        totals.append(total)
        charlies.append(charlie)
    print(f"{'stage (all three links)':<28} | {'median ms':>9} | {'min':>6} | {'max':>6}")
    for s in STAGES:
        v = stages[s]
        if v:
            print(f"{s:<28} | {statistics.median(v):9.1f} | {min(v):6.1f} | {max(v):6.1f}")
    med = statistics.median(totals)
    print(f"{'Dave hears all three':<28} | {med:9.1f} | {min(totals):6.1f} | {max(totals):6.1f}")
    print(f"Dave's join to first audio from all three, median of {args.runs}: {med:.0f} ms "
          f"(target <= 150 ms); Charlie's (two in voice) in the same runs: "
          f"{statistics.median(charlies):.0f} ms, ratio {med / statistics.median(charlies):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
