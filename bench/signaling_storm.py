"""Signaling storm: R rooms x 6 people join voice and exchange what the seed's browsers exchange.

For every pair in a room: one offer, one answer and 3 ICE candidates each way (8 relayed
messages, 120 per room of 6). Each message carries a unique id, its intended recipient and its
send time inside its SDP or candidate text, so the receiver can tell lost, duplicated and
misrouted messages apart and measure relay latency (sender and receiver share this process's
clock).

The server runs as its own process (``talklab-server``), the people in this one: with 2 cores,
one each. A single Python client process is itself a limit at large R, so read the figures as
"the pair of processes", and compare sizes measured in the same run.

    python bench/signaling_storm.py [--rooms 1 10 50]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import time
from collections import Counter

import socketio

PEOPLE = 6
CANDIDATES = 3


class Person:
    def __init__(self, room: str, name: str, ledger: "Ledger") -> None:
        self.room, self.name, self.ledger = room, name, ledger
        self.sio = socketio.AsyncClient(reconnection=False)
        self.voice = asyncio.Event()
        self.before_me: set[str] = set()
        for event in ("userJoinedVoice", "webrtc-offer", "webrtc-answer", "webrtc-ice-candidate",
                      "voiceJoined"):
            self.sio.on(event, getattr(self, "on_" + event.replace("-", "_")))

    @property
    def sid(self) -> str:
        return self.sio.get_sid()

    async def send(self, event: str, key: str, to: str) -> None:
        mid = next(self.ledger.ids)
        text = f"{mid} {to} {time.perf_counter():.6f}"
        if key == "candidate":
            body = {"candidate": f"candidate:{text} typ host", "sdpMid": "0", "sdpMLineIndex": 0}
        else:
            body = {"type": key, "sdp": f"v=0\r\ns={text}\r\n"}
        self.ledger.sent += 1
        await self.sio.emit(event, {key: body, "to": to})

    def receive(self, text: str) -> None:
        mid, to, sent_at = text.split()[:3]
        self.ledger.received(mid, to == self.sid, time.perf_counter() - float(sent_at))

    async def on_voiceJoined(self, data):
        self.before_me = {p["socketId"] for p in data["peers"]}
        self.voice.set()

    async def on_userJoinedVoice(self, data):  # Step 3: those already in voice offer
        # ... to newcomers only: one listed in our voiceJoined was there first and offers us.
        if self.voice.is_set() and data["socketId"] not in self.before_me:
            await self.send("webrtc-offer", "offer", data["socketId"])

    async def on_webrtc_offer(self, data):  # Step 5: the newcomer answers, then trickles
        self.receive(data["offer"]["sdp"].split("s=")[1])
        await self.send("webrtc-answer", "answer", data["from"])
        for _ in range(CANDIDATES):
            await self.send("webrtc-ice-candidate", "candidate", data["from"])

    async def on_webrtc_answer(self, data):
        self.receive(data["answer"]["sdp"].split("s=")[1])
        for _ in range(CANDIDATES):
            await self.send("webrtc-ice-candidate", "candidate", data["from"])

    async def on_webrtc_ice_candidate(self, data):
        self.receive(data["candidate"]["candidate"][len("candidate:"):])


class Ledger:
    def __init__(self, expected: int) -> None:
        self.ids = itertools.count()
        self.expected, self.sent = expected, 0
        self.seen: Counter[str] = Counter()
        self.misrouted = 0
        self.latencies: list[float] = []
        self.last_at = time.perf_counter()
        self.done = asyncio.Event()

    def received(self, mid: str, right_person: bool, latency: float) -> None:
        self.seen[mid] += 1
        self.misrouted += not right_person
        self.latencies.append(latency)
        self.last_at = time.perf_counter()
        if len(self.latencies) >= self.expected:
            self.done.set()


async def storm(url: str, rooms: int) -> dict:
    pairs = PEOPLE * (PEOPLE - 1) // 2
    ledger = Ledger(expected=rooms * pairs * (2 + 2 * CANDIDATES))
    people = [Person(f"R{r}", f"P{i}", ledger) for r in range(rooms) for i in range(PEOPLE)]
    await asyncio.gather(*(p.sio.connect(url, transports=["websocket"]) for p in people))
    for p in people:
        await p.sio.emit("joinRoom", {"room": p.room, "username": p.name})
    t0 = time.perf_counter()

    async def fill(room_people):
        for p in room_people:  # join voice one after another, as people click the button
            await p.sio.emit("joinVoice", {"room": p.room})
            await asyncio.wait_for(p.voice.wait(), 30)

    await asyncio.gather(*(fill(people[i:i + PEOPLE]) for i in range(0, len(people), PEOPLE)))
    try:
        await asyncio.wait_for(ledger.done.wait(), 60)
    except asyncio.TimeoutError:
        pass
    # Let stragglers (duplicates) arrive before counting: wait until nothing new comes.
    count = -1
    while count != len(ledger.latencies):
        count = len(ledger.latencies)
        await asyncio.sleep(0.2)
    elapsed = ledger.last_at - t0
    await asyncio.gather(*(p.sio.disconnect() for p in people))
    lat = sorted(ledger.latencies) or [0.0]
    return {
        "rooms": rooms,
        "clients": len(people),
        "expected": ledger.expected,
        "relayed/s": len(lat) / elapsed,
        "p50 ms": 1000 * statistics.median(lat),
        "p99 ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "lost": ledger.expected - len(ledger.seen),
        "duplicated": sum(n - 1 for n in ledger.seen.values()),
        "misrouted": ledger.misrouted,
    }


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "talklab.server", "--port", "0"],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    return proc, proc.stdout.readline().split()[-1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, nargs="+", default=[1, 10, 50])
    args = parser.parse_args()
    proc, url = start_server()
    try:
        rows = [await storm(url, r) for r in args.rooms]
    finally:
        proc.terminate()
        proc.wait()
    cols = list(rows[0])
    print(" | ".join(f"{c:>10}" for c in cols))
    for row in rows:
        print(" | ".join(f"{v:>10.1f}" if isinstance(v, float) else f"{v:>10}" for v in row.values()))


if __name__ == "__main__":
    asyncio.run(main())
