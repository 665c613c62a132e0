"""Mesh, SFU and MCU side by side: what each person and the server carry as a room grows.

For each topology (``Lab(topology="mesh" | "sfu" | "mcu")``; the SFU and MCU are the lab's own
Janus, VideoRoom and AudioBridge) and each room size n, a lab fills one room with n people who
join one after another, waits until everyone hears everyone (every tone checked; in the MCU,
found in the one mix), then measures over ``--window`` seconds (:func:`talklab.load.measure`):

* per person (the median person): RTP streams uploaded and downloaded (those that carried
  packets in the window), and kbps on the wire each way (UDP payload: SRTP, SRTCP, DTLS);
  Opus frames encoded and audio frames decoded a second;
* for the server (Janus): streams in and out and kbps each way, which are the people's
  uploads and downloads added up (nothing else talks to it); the mesh has no server;
* CPU as % of one core: the people's process (all n people, aiortc, talklab) and the Janus
  process, measured separately (``/proc/<pid>/stat``);
* seconds from the first join until everyone hears everyone (``nan``: not within the limit);
* the slowest stream's packets/s: 49 or more is real time (20 ms frames).

    python bench/topologies.py [--sizes 2 3 ... 10] [--topologies mesh sfu mcu] [--window 3]

The last lines say, per topology, the largest room that ran in real time on this machine and
the first that did not. Where Janus is not installed, the SFU and MCU rows are skipped with a
line that says so (``apt-get install janus``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import pathlib
import time

import talklab
from talklab.janus import available
from talklab.load import RoomLoad, measure

TOPOLOGIES = ("mesh", "sfu", "mcu")
SIZES = tuple(range(2, 11))
COLUMNS = ("topology", "n", "up streams", "down streams", "up kbps", "down kbps", "enc/s",
           "dec/s", "server in", "server out", "server in kbps", "server out kbps",
           "people cpu %", "janus cpu %", "heard s", "pkt/s min", "real time")


async def room(topology: str, n: int, window: float) -> dict[str, object]:
    """Fill a room of ``n`` in ``topology``, wait until everyone hears everyone, measure."""
    async with talklab.Lab(topology=topology, voice_cap=max(n, 6)) as lab:
        t0 = time.perf_counter()
        for i in range(n):
            await lab.join(f"P{i + 1}", voice=True)
        heard = math.nan
        try:
            await lab.wait_connected(timeout=30 + 5 * n)
            await lab.wait_heard(timeout=max(5.0, 60 + 5 * n - (time.perf_counter() - t0)))
            heard = time.perf_counter() - t0
        except TimeoutError:
            pass  # measured anyway: a room that cannot keep up is what this finds
        return row(topology, n, await measure(lab, window), heard)


def row(topology: str, n: int, load: RoomLoad, heard: float) -> dict[str, object]:
    people = load.per_person
    server = topology != "mesh"
    return {
        "topology": topology, "n": n,
        "up streams": count(load.upload_streams), "down streams": count(load.download_streams),
        "up kbps": load.upload_kbps, "down kbps": load.download_kbps,
        "enc/s": load.encodes_per_s, "dec/s": load.decodes_per_s,
        # what reaches the server is what the people upload, and the other way round
        "server in": sum(p.upload_streams for p in people) if server else "-",
        "server out": sum(p.download_streams for p in people) if server else "-",
        "server in kbps": sum(p.upload_kbps for p in people) if server else "-",
        "server out kbps": sum(p.download_kbps for p in people) if server else "-",
        "people cpu %": load.cpu_percent,
        "janus cpu %": load.server_cpu_percent if load.server_cpu_percent is not None else "-",
        "heard s": heard, "pkt/s min": load.pps_min,
        "real time": "yes" if load.real_time and not math.isnan(heard) else "NO",
    }


def count(median: float) -> int | float:
    """A median count of streams, whole when it is (an even room may fall between two)."""
    return int(median) if float(median).is_integer() else median


def cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return str(value)


def table(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table (what the README and the notebook quote)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def limits(rows: list[dict[str, object]]) -> list[str]:
    """Per topology: the largest room in real time, and the first that was not."""
    out = []
    for topology in dict.fromkeys(r["topology"] for r in rows):
        mine = [r for r in rows if r["topology"] == topology]
        ok = [r["n"] for r in mine if r["real time"] == "yes"]
        not_ok = [r["n"] for r in mine if r["real time"] != "yes"]
        out.append(f"{topology}: real time up to n={max(ok) if ok else 'none'}"
                   + (f", not at n={min(not_ok)}" if not_ok else
                      f" (every size measured, {mine[0]['n']}..{mine[-1]['n']})"))
    return out


async def run(topologies: list[str], sizes: list[int], window: float) -> list[dict]:
    """Every room, one after the other, each row printed as soon as it is measured."""
    if not available() and set(topologies) - {"mesh"}:
        print("Janus is not installed (apt-get install janus): SFU and MCU rows skipped",
              flush=True)
        topologies = [t for t in topologies if t == "mesh"]
    rows = []
    for topology in topologies:
        for n in sizes:
            rows.append(await room(topology, n, window))
            print(" | ".join(f"{c}={cell(v)}" for c, v in rows[-1].items()), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--topologies", nargs="+", choices=TOPOLOGIES, default=list(TOPOLOGIES))
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--json", help="also write the rows to this file (for the notebook)")
    args = parser.parse_args()
    rows = asyncio.run(run(list(args.topologies), args.sizes, args.window))
    print()
    print(table(rows))
    print()
    for line in limits(rows):
        print(line)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
