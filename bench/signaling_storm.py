"""Signaling storm: R rooms x 6 people join voice and exchange what the seed's browsers exchange,
against four servers measured side by side in one interleaved run:

  (a) talklab          one talklab-server process
  (b) talklab x2       two talklab-server processes sharing rooms through Redis, people spread
                       over them one by one (so half of all relays cross from one to the other)
  (b') talklab x2 room the same two servers, each room's people on one server (what a load
                       balancer routing by room would do): only joining and leaving cross
  (c) stock            the seed's server ported to python-socketio with library defaults
                       (bench/stock_server.py)
  (d) seed-node        the seed's sockets/index.js on Node's socket.io (bench/node/seed_server.mjs)

The load comes from bench/node/storm.mjs, a Node process speaking only the seed's events (one
Python client process cannot keep up with the Node server, and the generator must not be the
limit). All people of a room join voice at once. Per pair of people: an offer, an answer and
3 ICE candidates each way, 120 relayed messages per room. It reports messages relayed per
second, p50/p99 relay latency, lost, duplicated and misrouted messages, and the CPU time the
servers (with Redis) and the load generator used per 1,000 messages; then the ratios of (a)
and (b) to (c) and (d).

On a 2-core machine, one talklab-server takes one core and the load generator most of the
other: two servers cannot relay faster than one there, whatever they cost. The CPU columns show
what a second server costs per message, which is what decides how far it scales with cores.

    python bench/signaling_storm.py [--rooms 10 50 200] [--targets talklab stock ...] [--repeat 2]

Needs: node and `npm ci` in bench/node; redis-server for (b).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).parent
NODE = HERE / "node"
TARGETS = ("talklab", "talklab x2", "talklab x2 room", "stock", "seed-node")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def settled_cpu_seconds(pids: list[int], limit: float = 10.0) -> float:
    """CPU time of these processes once they have gone quiet (they finish handling the last
    storm's hang-ups after the load generator exits): readings 0.1 s apart until one adds less
    than 5 ms. A benchmark's wait, not a test's."""
    last, deadline = cpu_seconds(pids), time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_seconds(pids)
        if now - last < 0.005:
            return now
        last = now
    return last


def spawn(args: list[str], ready: str, **kwargs) -> subprocess.Popen:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), **kwargs)
    for line in proc.stdout:
        if ready in line:
            return proc
    raise RuntimeError(f"{args[0]} did not start")


class Servers:
    """Starts each kind of server once; all run for the whole benchmark."""

    def __init__(self, targets) -> None:
        self.procs: list[subprocess.Popen] = []
        self.urls: dict[str, list[str]] = {}
        self.pids: dict[str, list[int]] = {}  # whose CPU time counts for each target
        self.tmp = tempfile.mkdtemp()
        for target in targets:
            if target == "talklab x2 room" and "talklab x2" in self.urls:
                self.urls[target], self.pids[target] = self.urls["talklab x2"], self.pids[
                    "talklab x2"]
                continue
            first = len(self.procs)
            self.urls[target] = getattr(self, "_" + target.replace(" ", "_").replace("-", "_"))()
            self.pids[target] = [p.pid for p in self.procs[first:]]

    def _talklab_server(self, *extra: str) -> str:
        port = free_port()
        self.procs.append(spawn([sys.executable, "-m", "talklab.server", "--port", str(port),
                                 *extra], "signaling server on"))
        return f"http://127.0.0.1:{port}"

    def _talklab(self) -> list[str]:
        return [self._talklab_server()]

    def _talklab_x2(self) -> list[str]:
        port = free_port()
        self.procs.append(spawn([shutil.which("redis-server") or "redis-server", "--port",
                                 str(port), "--bind", "127.0.0.1", "--save", "", "--dir",
                                 self.tmp], "Ready to accept connections"))
        redis_url = f"redis://127.0.0.1:{port}/0"
        return [self._talklab_server("--redis", redis_url) for _ in range(2)]

    _talklab_x2_room = _talklab_x2

    def _stock(self) -> list[str]:
        port = free_port()
        self.procs.append(spawn([sys.executable, str(HERE / "stock_server.py"), str(port)],
                                "listening"))
        return [f"http://127.0.0.1:{port}"]

    def _seed_node(self) -> list[str]:
        port = free_port()
        self.procs.append(spawn(["node", str(NODE / "seed_server.mjs"), str(port)],
                                "listening", cwd=NODE))
        return [f"http://127.0.0.1:{port}"]

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def storm(rooms: int, urls: list[str], pids: list[int], by_room: bool = False) -> dict:
    """One storm; adds the CPU seconds the servers and the generator spent on it."""
    servers_before = settled_cpu_seconds(pids)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(["node", str(NODE / "storm.mjs"), str(rooms),
                          *(["--by-room"] if by_room else []), *urls],
                         cwd=NODE, capture_output=True, text=True, timeout=180)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["server_cpu_s"] = settled_cpu_seconds(pids) - servers_before
    result["generator_cpu_s"] = (after.ru_utime + after.ru_stime
                                 - before.ru_utime - before.ru_stime)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs per target and size, interleaved; the median is reported")
    args = parser.parse_args()
    servers = Servers(args.targets)
    try:
        results: dict[tuple[int, str], list[dict]] = {}
        for rooms in args.rooms:
            for _ in range(args.repeat):
                for target in args.targets:  # interleaved: a, b, c, d, a, b, c, d
                    results.setdefault((rooms, target), []).append(storm(
                        rooms, servers.urls[target], servers.pids[target],
                        by_room=target.endswith(" room")))
    finally:
        servers.close()

    print(f"{os.cpu_count()} CPU cores. CPU columns: milliseconds of CPU time per 1,000 "
          "relayed messages, whole storm (connecting, joining, relaying, hanging up).")
    columns = ["rooms", "server", "relayed/s", "p50 ms", "p99 ms", "lost", "duplicated",
               "misrouted", "server cpu", "load cpu"]
    print(" | ".join(f"{c:>15}" if i == 1 else f"{c:>10}" for i, c in enumerate(columns)))
    best: dict[tuple[int, str], float] = {}
    for (rooms, target), runs in results.items():
        rate = statistics.median(r["relayed_per_s"] for r in runs)
        best[(rooms, target)] = rate
        def per_1k(key: str, runs: list = runs) -> str:  # ms CPU per 1,000 relayed messages
            return f"{statistics.median(r[key] * 1e6 / r['expected'] for r in runs):.0f}"

        row = [rooms, target, f"{rate:.0f}",
               f"{statistics.median(r['p50_ms'] for r in runs):.1f}",
               f"{statistics.median(r['p99_ms'] for r in runs):.1f}",
               max(r["lost"] for r in runs), max(r["duplicated"] for r in runs),
               max(r["misrouted"] for r in runs), per_1k("server_cpu_s"),
               per_1k("generator_cpu_s")]
        print(" | ".join(f"{v:>15}" if i == 1 else f"{v:>10}" for i, v in enumerate(row)))
    for rooms in args.rooms:
        for ours in ("talklab", "talklab x2", "talklab x2 room"):
            for other in ("stock", "seed-node", "talklab"):
                if ours != other and (rooms, ours) in best and (rooms, other) in best:
                    print(f"R={rooms}: {ours} / {other} = "
                          f"{best[(rooms, ours)] / best[(rooms, other)]:.2f}")


if __name__ == "__main__":
    main()
