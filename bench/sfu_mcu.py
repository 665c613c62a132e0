"""Mesh, SFU and MCU side by side: what each person and the server carry as a room grows.

For each topology (``Lab(topology="mesh" | "sfu" | "mcu")``; the SFU and MCU are the lab's own
Janus, VideoRoom and AudioBridge) and each room size n, a lab fills one room with n people who
join one after another, waits until everyone hears everyone (every tone checked; in the MCU,
found in the one mix), then measures over ``--window`` seconds (:mod:`talklab.lab.sidebyside`,
:func:`talklab.lab.load.measure`):

* per person (the median person): RTP streams uploaded and downloaded (those that carried
  packets in the window), and kbps on the wire each way (UDP payload: SRTP, SRTCP, DTLS);
  Opus frames encoded and audio frames decoded a second;
* for the server (Janus): streams in and out and kbps each way, which are the people's
  uploads and downloads added up (nothing else talks to it); the mesh has no server;
* CPU as % of one core: the people's process (all n people, aiortc, talklab) and the Janus
  process, measured separately (``/proc/<pid>/stat``);
* seconds from the first join until everyone hears everyone (``nan``: not within the limit);
* the slowest stream's packets/s: 49 or more is real time (20 ms frames).

A room that cannot even be filled (a join not answered in time, on a machine that has fallen
behind) gets a line saying so instead of a row.

    python bench/sfu_mcu.py [--sizes 2 3 ... 10] [--topologies mesh sfu mcu] [--window 3]

The last lines say, per topology, the largest room that ran in real time on this machine and
the first that did not. Where Janus is not installed, the SFU and MCU rows are skipped with a
line that says so (``apt-get install janus``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import pathlib
import platform
import sys
import time

from talklab.lab.sidebyside import NO_JANUS, TOPOLOGIES, cell, limits, measure_room, table, usable

SIZES = tuple(range(2, 11))


async def run(topologies: list[str], sizes: list[int], window: float) -> list[dict]:
    """Every room, one after the other, each row printed as soon as it is measured."""
    if usable(topologies) != topologies:
        print(NO_JANUS, flush=True)
    rows = []
    for topology in usable(topologies):
        for n in sizes:
            try:
                rows.append(await measure_room(topology, n, window))
            except TimeoutError as exc:  # the room could not even be filled: say so, go on
                print(f"{topology} n={n}: the room could not be filled ({exc})", flush=True)
                continue
            print(" | ".join(f"{c}={cell(v)}" for c, v in rows[-1].items()), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--topologies", nargs="+", choices=TOPOLOGIES, default=list(TOPOLOGIES))
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--json", help="also write the rows, with when and where, to this file")
    args = parser.parse_args()
    rows = asyncio.run(run(list(args.topologies), args.sizes, args.window))
    print()
    print(table(rows))
    print()
    for line in limits(rows):
        print(line)
    if args.json:  # what notebook 11 shows (notebooks/data/sfu-mcu-bench.json)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        record = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "machine": f"{os.cpu_count()} cores, {platform.machine()}, load average "
                             f"{load} at the end (other work included)",
                  "command": "python bench/sfu_mcu.py " + " ".join(sys.argv[1:]),
                  "rows": [{k: None if isinstance(v, float) and math.isnan(v) else v
                            for k, v in r.items()} for r in rows]}
        pathlib.Path(args.json).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
