"""Redis mode survives Redis (issue 13): a Redis restarted empty forgets nobody, notices never
cross a move, a dead server's people are not silently lost, identities hold across servers,
and /health stays cheap. Two in-process servers on a real redis-server, both WebSocket paths.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import urllib.request

import aiohttp
from server_fixtures import seated, start_redis, stop_redis

from talklab.browser.signaling import SignalingClient
from talklab.events import until
from talklab.server import VOICE_FULL_MESSAGE, Limits, SignalingServer

ROOM = "SURVIVE"
OFFER = {"type": "offer", "sdp": "v=0\r\ns=survive\r\n"}
NOTICES = ("userJoinedRoom", "userLeftRoom", "userJoinedVoice", "userLeftVoice")


person = functools.partial(seated, room=ROOM)


async def test_redis_back_empty_forgets_nobody(tmp_path, fast_path):
    """Before: after a restart without persistence the servers forgot everyone: relays among
    the 6 in voice were refused, 6 newcomers got seats too, hang-ups reached nobody."""
    r = start_redis(tmp_path)
    try:
        async with SignalingServer(redis_url=r.url, fast_path=fast_path) as one, \
                SignalingServer(redis_url=r.url, fast_path=fast_path) as two:
            people = [await person(f"P{i}", (one, two)[i % 2].url) for i in range(6)]
            stop_redis(r)
            r = start_redis(tmp_path, port=r.port)  # empty: no persistence
            loop = asyncio.get_running_loop()
            back = loop.time()
            while r.cli("ZCARD", f"talklab:v:{ROOM}").strip() != "6":  # all 6 seated again
                assert loop.time() - back < 5, "not everyone was re-registered within 5 s"
                await one.app.store.liveness.wait_rounds(1)
            assert sorted(m["username"] for m in await two.members(ROOM) if m["inVoice"]) == \
                [f"P{i}" for i in range(6)]
            late = await person("Late", two.url, voice=False)  # a 7th: refused
            await late.emit("joinVoice", {"room": ROOM})
            assert await late.next("voiceError", timeout=10) == {"message": VOICE_FULL_MESSAGE}
            # Relays among the 6 work, across servers; a hang-up reaches the others.
            await people[0].emit("webrtc-offer", {"offer": OFFER, "to": people[1].sid})
            assert (await people[1].next("webrtc-offer", timeout=5))["from"] == people[0].sid
            await people[5].close()
            for p in people[:5]:
                assert await p.next("userLeftVoice", timeout=5) == {
                    "socketId": people[5].sid, "room": ROOM}
            assert json.loads(await asyncio.to_thread(health, one.url))["inVoice"] == 5
            for p in (*people[:5], late):
                await p.close()
    finally:
        stop_redis(r)


def health(url: str) -> str:
    with urllib.request.urlopen(url + "/health", timeout=5) as response:
        return response.read().decode()


class Ordered:
    """A Socket.IO client spoken by hand over one WebSocket: every event in the exact order
    it arrived (python-socketio's client runs each event's handler in a task of its own, and
    may record them out of order)."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http, self.received, self.sid = http, [], ""
        self._arrived = asyncio.Event()
        self._taken: list = []

    async def connect(self, url: str) -> Ordered:
        self.ws = await self.http.ws_connect(url.replace("http", "ws") +
                                             "/socket.io/?EIO=4&transport=websocket")
        assert (await self.ws.receive(5)).data.startswith("0")
        await self.ws.send_str("40")
        self.sid = json.loads((await self.ws.receive(5)).data[2:])["sid"]
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.data == "2":
                await self.ws.send_str("3")
            elif isinstance(msg.data, str) and msg.data.startswith("42"):
                self.received.append(tuple(json.loads(msg.data[2:])))
                self._arrived.set()

    async def emit(self, event: str, data: dict) -> None:
        await self.ws.send_str("42" + json.dumps([event, data]))

    async def next(self, event: str, where=lambda d: True, timeout: float = 5) -> dict:
        def find() -> dict | None:
            for name, data in self.received:
                if name == event and where(data) and (name, data) not in self._taken:
                    self._taken.append((name, data))
                    return data
            return None
        return await until(self._arrived, find, timeout)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


async def test_no_stale_notice_crosses_a_move_in_200_trials(redis, fast_path):
    """Alice (server one) moves from room A to room B while Bob (server two, in A) joins
    voice: Bob's userJoinedVoice, sent to A's members through Redis, could arrive after
    Alice's roomJoined for B (32 of 200 trials before). Now it names its room and server one
    drops it. Counted as Alice's WebSocket receives them: a notice about Bob after her
    roomJoined for a B room. Server two is made a little slow to forward (as a loaded server
    is), and who moves first alternates, so that the race happens often."""
    limits = Limits(room_changes_burst=10_000, room_changes_per_second=10_000)
    async with SignalingServer(redis_url=redis.url, fast_path=fast_path, limits=limits) as one, \
            SignalingServer(redis_url=redis.url, fast_path=fast_path, limits=limits) as two, \
            aiohttp.ClientSession() as http:
        forward = two.app.store.forward

        async def slowly(*args, **kwargs):
            await asyncio.sleep(0.005)
            await forward(*args, **kwargs)

        two.app.store.forward = slowly
        alice, bob = await Ordered(http).connect(one.url), await Ordered(http).connect(two.url)
        for t in range(200):
            a, b = f"A{t}", f"B{t}"
            await alice.emit("joinRoom", {"room": a, "username": "Alice"})
            await alice.next("roomJoined", lambda d, a=a: d["room"] == a)
            await bob.emit("joinRoom", {"room": a, "username": "Bob"})
            await bob.next("roomJoined", lambda d, a=a: d["room"] == a)
            await alice.next("userJoinedRoom", lambda d, a=a: d["socketId"] == bob.sid
                             and d.get("room", a) == a)
            moves = [alice.emit("joinRoom", {"room": b, "username": "Alice"}),
                     bob.emit("joinVoice", {"room": a})]
            await asyncio.gather(*(moves if t % 2 else moves[::-1]))  # either first
            await alice.next("roomJoined", lambda d, b=b: d["room"] == b)
            await bob.next("voiceJoined", lambda d, a=a: d["room"] == a)
        # A marker from server two, after everything else it sent Alice's way.
        marker = await person("Marker", two.url, room="B199", voice=False)
        await alice.next("userJoinedRoom", lambda d: d["socketId"] == marker.sid)
        current, stale = None, []
        for event, data in alice.received:
            if event == "roomJoined":
                current = data["room"]
            elif event in NOTICES and data.get("socketId") == bob.sid and \
                    current is not None and current.startswith("B"):
                stale.append((event, data, current))
        assert stale == []
        assert all(data.get("room") for event, data in alice.received if event in NOTICES)
        for c in (alice, bob, marker):
            await c.close()


async def until_redis_lost_the_subscriber(asking: SignalingServer, dead: SignalingServer) -> None:
    """Until Redis has seen the dead server's subscription go (its connection was closed, as a
    crash closes it; Redis notices on its own time, and on a busy machine an offer published
    before that would still reach the dead server's inbox). Each look awaits Redis's answer."""
    session = dead.app.store.session
    inbox = session.keys.to(session.server_id)
    client = asking.app.store.session.client

    async def gone() -> None:
        while int((await client.execute("PUBSUB", "NUMSUB", inbox))[1]):
            pass

    await asyncio.wait_for(gone(), 5)


async def test_offers_to_a_dead_servers_people_are_refused_at_once(redis, fast_path):
    """Before: a killed server's people silently lost offers for ~3 s (until the reaper)."""
    one = await SignalingServer(redis_url=redis.url, fast_path=fast_path).start()
    async with SignalingServer(redis_url=redis.url, fast_path=fast_path) as two:
        alice = await person("Alice", one.url)
        bob = await person("Bob", two.url)
        one.app.store.liveness.stop()  # server one dies without a goodbye: its subscription
        one.app.store.channels.unsubscribe()  # goes, its heartbeat stops, its people are kept
        await until_redis_lost_the_subscriber(two, one)
        await bob.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})
        started = time.monotonic()
        error = await bob.next("signalingError", timeout=2)
        assert time.monotonic() - started < 1
        assert error["event"] == "webrtc-offer" and "cannot be reached" in error["message"]
        await bob.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})  # and the next one
        assert "cannot be reached" in (await bob.next("signalingError", timeout=2))["message"]
        await bob.close()
    await alice.close()
    one.app.closing = True
    await one.close()


async def test_a_userid_in_a_room_cannot_be_taken_through_another_server(redis, fast_path):
    async with SignalingServer(redis_url=redis.url, fast_path=fast_path) as one, \
            SignalingServer(redis_url=redis.url, fast_path=fast_path) as two:
        alice = await person("Alice", one.url, user_id="user-alice")
        bob = await person("Bob", two.url, user_id="user-bob")
        mallory = await SignalingClient("Mallory").connect(one.url)
        await mallory.emit("joinRoom", {"room": ROOM, "username": "Bob", "userId": "user-bob"})
        error = await mallory.next("signalingError")
        assert "'user-bob' is already in room" in error["message"]
        assert [m["userId"] for m in await one.members(ROOM)] == ["user-alice", "user-bob"]
        await bob.close()  # once Bob has left, his userId is free again
        await alice.next("userLeftRoom")
        await mallory.emit("joinRoom", {"room": ROOM, "username": "Bob2", "userId": "user-bob"})
        assert (await mallory.next("roomJoined"))["room"] == ROOM
        for c in (alice, mallory):
            await c.close()


async def test_health_in_redis_mode_is_one_lookup(redis):
    """Before: a SCAN of every room, 78 ms per GET with 2,000 members. Now three counters the
    change scripts keep: as cheap with 5,000 members as with 10."""
    async with SignalingServer(redis_url=redis.url) as srv:
        store = srv.app.store

        async def cost() -> float:
            started = time.perf_counter()
            for _ in range(20):
                await store.counts()
            return (time.perf_counter() - started) / 20

        await asyncio.gather(*(store.join_room(f"sid-{n}", f"R{n}", f"P{n}", None)
                               for n in range(10)))
        small = await cost()
        await asyncio.gather(*(store.join_room(f"sid-{n}", f"R{n % 1000}", f"P{n}", None)
                               for n in range(10, 5000)))
        await asyncio.gather(*(store.join_voice(f"sid-{n}", f"R{n % 1000}")
                               for n in range(0, 5000, 2)))
        assert await store.counts() == {"rooms": 1000, "members": 5000, "inVoice": 2500}
        assert await cost() < 3 * small + 0.002
        await asyncio.gather(*(store.leave_room(f"sid-{n}") for n in range(0, 5000, 4)))
        # (rooms whose number is a multiple of 4 had only such members: they are gone)
        assert await store.counts() == {"rooms": 750, "members": 3750, "inVoice": 1250}
