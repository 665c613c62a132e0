"""Mesh, SFU and MCU side by side: one room per topology and size, measured the same way.

What ``bench/sfu_mcu.py`` prints and notebook 11 shows live. For each topology
(``Lab(topology="mesh" | "sfu" | "mcu")``) and room size n, :func:`measure_room` fills a
fresh lab's room with n people who join one after another, waits until everyone hears
everyone (every tone checked; in the MCU, found in the one mix), and measures a window with
:func:`talklab.lab.load.measure`. Its row says, for the median person, the RTP streams uploaded
and downloaded (those that carried packets) and their kbps on the wire; for the server, the
streams in and out and their kbps, which are the people's uploads and downloads added up
(nothing else talks to it); the CPU of the people's process and of Janus, separately; the
seconds from the first join until everyone heard everyone; and whether every stream kept its
50 packets a second (real time).

Tested in tests/test_exercises_11.py (check.streams_for measures rooms of four with measure_room,
live) and tests/test_bench.py (bench/sfu_mcu.py's table of mesh, SFU and MCU rows).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from talklab.janus import available
from talklab.lab.load import RoomLoad, measure

TOPOLOGIES = ("mesh", "sfu", "mcu")
COLUMNS = ("topology", "n", "up streams", "down streams", "up kbps", "down kbps", "enc/s",
           "dec/s", "server in", "server out", "server in kbps", "server out kbps",
           "people cpu %", "janus cpu %", "heard s", "pkt/s min", "real time")
NO_JANUS = ("Janus is not installed here (`apt-get install janus`; on Binder, apt.txt installs "
            "it): the SFU and MCU rooms are skipped, the mesh runs alone.")
Row = dict[str, Any]


def missing(topology: str, n: int, topologies: Iterable[str], cell: str) -> str:
    """Why the ``topology`` room of ``n`` is not among the rows: no Janus here, or the cell
    that measures it (``cell``, a line of it) has not run to its end."""
    if topology not in topologies:
        return NO_JANUS
    return (f"the {topology.upper()} room of {n} has not been measured (its cell was "
            f"interrupted, or has not run yet): run the cell with `{cell}` again, to its end.")


async def measure_room(topology: str, n: int, window: float = 2.0) -> Row:
    """Fill a room of ``n`` in ``topology``, wait until everyone hears everyone, measure."""
    from talklab.lab.lab import Lab

    async with Lab(topology=topology, voice_cap=max(n, 6)) as lab:
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


def usable(topologies: Iterable[str]) -> list[str]:
    """``topologies`` that can run here: without Janus, the mesh only."""
    return [t for t in topologies if t == "mesh" or available()]


def row(topology: str, n: int, load: RoomLoad, heard: float) -> Row:
    """One room's measurement as a table row (``"-"``: the mesh has no server)."""
    people = load.per_person
    server = topology != "mesh"
    return rounded({
        "topology": topology, "n": n,
        "up streams": count(load.upload_streams), "down streams": count(load.download_streams),
        "up kbps": load.upload_kbps, "down kbps": load.download_kbps,
        "enc/s": load.encodes_per_s, "dec/s": load.decodes_per_s,
        "server in": sum(p.upload_streams for p in people) if server else "-",
        "server out": sum(p.download_streams for p in people) if server else "-",
        "server in kbps": sum(p.upload_kbps for p in people) if server else "-",
        "server out kbps": sum(p.download_kbps for p in people) if server else "-",
        "people cpu %": load.cpu_percent,
        "janus cpu %": load.server_cpu_percent if load.server_cpu_percent is not None else "-",
        "heard s": heard, "pkt/s min": load.pps_min,
        "real time": "yes" if load.real_time and not math.isnan(heard) else "NO",
    })


# measured to a few per cent: shown as whole numbers, so a table shows no noise as digits
WHOLE = ("up kbps", "down kbps", "enc/s", "dec/s", "server in kbps", "server out kbps",
         "people cpu %", "janus cpu %", "pkt/s min")


def rounded(measured: Row) -> Row:
    """A row as tables show it (a live one, or one recorded by ``bench/sfu_mcu.py``): rates,
    kbps and CPU whole, the seconds until everyone heard to hundredths."""
    def shown(key: str, value: Any) -> Any:
        if not isinstance(value, float) or math.isnan(value):
            return value
        return round(value) if key in WHOLE else round(value, 2) if key == "heard s" else value
    return {key: shown(key, value) for key, value in measured.items()}


def count(median: float) -> int | float:
    """A median count of streams, whole when it is (an even room may fall between two)."""
    return int(median) if float(median).is_integer() else median


def cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return str(value)


def table(rows: Iterable[Row]) -> str:
    """The rows as a Markdown table (what the README and the notebook quote)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def limits(rows: list[Row]) -> list[str]:
    """Per topology: the largest room in real time, and the first that was not."""
    out = []
    for topology in dict.fromkeys(r["topology"] for r in rows):
        mine = [r for r in rows if r["topology"] == topology]
        ok = [int(r["n"]) for r in mine if r["real time"] == "yes"]
        not_ok = [int(r["n"]) for r in mine if r["real time"] != "yes"]
        out.append(f"{topology}: real time up to n={max(ok) if ok else 'none'}"
                   + (f", not at n={min(not_ok)}" if not_ok else
                      f" (every size measured, {mine[0]['n']}..{mine[-1]['n']})"))
    return out
