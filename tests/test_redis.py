"""Several signaling servers, one set of rooms: talklab-server --redis, with a real redis-server.

Each test starts redis-server (Debian's, installed by `make test`) on a free loopback port,
points two or three talklab-servers at its database 3 (processes, as a user would run them, or
in-process where a test looks inside), and spreads the seed's people over them. Every test runs
on both WebSocket paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import signal
import subprocess
import urllib.error
import urllib.request

import pytest
from server_fixtures import seated, server_process, start_redis, stop_redis

from talklab.browser.signaling import SignalingClient
from talklab.server import VOICE_FULL_MESSAGE, SignalingServer

ROOM = "ABCD12"
OFFER = {"type": "offer", "sdp": "v=0\r\ns=offer\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\ns=answer\r\n"}


@pytest.fixture
def servers(redis, fast_path):
    """``servers(n)``: n talklab-server processes sharing ``redis.url``; returns their URLs
    and processes."""
    with contextlib.ExitStack() as running:
        def start(n: int) -> list[tuple[str, subprocess.Popen]]:
            started = [running.enter_context(server_process("--redis", redis.url,
                                                            fast_path=fast_path))
                       for _ in range(n)]
            return [(s.url, s.proc) for s in started]

        yield start


person = functools.partial(seated, room=ROOM)


def health(url: str, timeout: float = 5) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


async def test_the_dave_scenario_across_two_servers_on_database_3(servers, redis):
    (one, _), (two, _) = servers(2)
    alice = await person("Alice", one)
    bob = await person("Bob", two)
    charlie = await person("Charlie", one)
    dave = await person("Dave", two, voice=False)
    await dave.emit("joinVoice", {"room": ROOM})
    joined = await dave.next("voiceJoined")
    assert [p["username"] for p in joined["peers"]] == ["Alice", "Bob", "Charlie"]
    for old in (alice, bob, charlie):
        event = await old.next("userJoinedVoice", where=lambda e: e["username"] == "Dave")
        assert event["socketId"] == dave.sid
        await old.emit("webrtc-offer", {"offer": OFFER, "to": dave.sid})
    offers = [await dave.next("webrtc-offer") for _ in range(3)]
    assert sorted(o["from"] for o in offers) == sorted([alice.sid, bob.sid, charlie.sid])
    for o in offers:
        await dave.emit("webrtc-answer", {"answer": ANSWER, "to": o["from"]})
    for old in (alice, bob, charlie):
        assert await old.next("webrtc-answer") == {"answer": ANSWER, "from": dave.sid}
    # Relays are still checked across servers.
    eve = await person("Eve", one, voice=False)
    await eve.emit("webrtc-offer", {"offer": OFFER, "to": dave.sid})
    assert "not in voice" in (await eve.next("signalingError"))["message"]
    # The rooms really are in database 3 (asked with a plain redis-cli), none in database 0.
    people = (alice, bob, charlie, dave, eve)
    assert {f"talklab:m:{c.sid}" for c in people} <= redis.scan()
    assert "talklab:r:" + ROOM in redis.scan() and redis.scan(db=0) == set()
    assert redis.cli("ZCARD", "talklab:v:" + ROOM).strip() == "4"
    for url in (one, two):
        status, counts = await asyncio.to_thread(health, url)
        assert (status, counts) == (200, {"status": "ok", "rooms": 1, "members": 5,
                                          "inVoice": 4, "voiceCap": 6})
    for c in people:
        await c.close()


async def test_seven_concurrent_joins_over_two_servers_admit_exactly_six(servers):
    urls = [u for u, _ in servers(2)]
    people = [await person(f"P{i}", urls[i % 2], voice=False) for i in range(7)]
    await asyncio.gather(*(p.emit("joinVoice", {"room": ROOM}) for p in people))
    results = [await p.first("voiceJoined", "voiceError") for p in people]
    assert sorted(kind for kind, _ in results) == ["voiceError"] + ["voiceJoined"] * 6
    assert [d for kind, d in results if kind == "voiceError"] == [{"message": VOICE_FULL_MESSAGE}]
    for p in people:
        await p.close()


async def test_a_killed_server_frees_its_seats_and_the_others_are_told(servers,
                                                                       redis):
    (one, _), (two, doomed) = servers(2)
    alice = await person("Alice", one)
    bob = await person("Bob", two)
    others = [await person(f"P{i}", one) for i in range(4)]  # 6 in voice: full
    late = await person("Late", one, voice=False)
    await late.emit("joinVoice", {"room": ROOM})
    assert (await late.next("voiceError"))["message"] == VOICE_FULL_MESSAGE
    assert (await asyncio.to_thread(health, one))[1]["inVoice"] == 6

    doomed.send_signal(signal.SIGKILL)  # no goodbye: its sockets and heartbeat just stop
    doomed.wait(timeout=10)
    for c in (alice, *others):
        assert await c.next("userLeftVoice", timeout=10) == {"socketId": bob.sid, "room": ROOM}
    _, counts = await asyncio.to_thread(health, one)
    assert (counts["members"], counts["inVoice"]) == (6, 5)
    assert f"talklab:m:{bob.sid}" not in redis.scan()
    await late.emit("joinVoice", {"room": ROOM})
    assert [p["username"] for p in (await late.next("voiceJoined"))["peers"]] == [
        "Alice", "P0", "P1", "P2", "P3"]
    for c in (alice, *others, late):
        await c.close()


async def test_leaving_is_seen_at_once_by_every_server(servers):
    """Each server checks relays against its replica of the rooms; a change made on one server
    is announced before anything sent because of it, so no stale replica lets a relay through."""
    (one, _), (two, _) = servers(2)
    alice = await person("Alice", one)
    bob = await person("Bob", two)
    await bob.emit("leaveVoice", {"room": ROOM})
    await bob.next("voiceLeft")
    assert await alice.next("userLeftVoice") == {"socketId": bob.sid, "room": ROOM}
    await alice.emit("webrtc-offer", {"offer": OFFER, "to": bob.sid})  # checked on server one
    assert "not in voice" in (await alice.next("signalingError"))["message"]
    await bob.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})  # checked on server two
    assert "not in voice" in (await bob.next("signalingError"))["message"]
    # Bob moves to another room: to server one he is no longer in Alice's room at all.
    await bob.emit("joinRoom", {"room": "ELSEWHERE", "username": "Bob"})
    await bob.next("roomJoined")
    assert await alice.next("userLeftRoom") == {"socketId": bob.sid, "room": ROOM}
    await alice.emit("webrtc-offer", {"offer": OFFER, "to": bob.sid})
    assert "no member" in (await alice.next("signalingError"))["message"]
    assert alice.all("webrtc-offer") == [] and bob.all("webrtc-offer") == []
    for c in (alice, bob):
        await c.close()


async def test_a_server_started_later_knows_the_rooms_already_there(servers, redis,
                                                                    fast_path):
    """A new server loads a snapshot of every member before it serves anyone."""
    ((one, _),) = servers(1)
    alice = await person("Alice", one)
    bob = await person("Bob", one)
    async with SignalingServer(redis_url=redis.url, fast_path=fast_path) as late:
        replica = late.app.store.replica
        assert {m.username for m in replica.rooms.in_voice(ROOM)} == {"Alice", "Bob"}
        assert replica.server_of[alice.sid] == replica.server_of[bob.sid] != \
            late.app.store.server_id
        assert [m["username"] for m in await late.members(ROOM)] == ["Alice", "Bob"]
        carol = await person("Carol", late.url)
        for old in (alice, bob):
            await old.next("userJoinedVoice", where=lambda e: e["username"] == "Carol")
            await old.emit("webrtc-offer", {"offer": OFFER, "to": carol.sid})
        offers = [await carol.next("webrtc-offer") for _ in range(2)]
        assert sorted(o["from"] for o in offers) == sorted([alice.sid, bob.sid])
        for o in offers:
            await carol.emit("webrtc-answer", {"answer": ANSWER, "to": o["from"]})
        for old in (alice, bob):
            assert await old.next("webrtc-answer") == {"answer": ANSWER, "from": carol.sid}
        await carol.close()
    for c in (alice, bob):
        await c.close()


def on_disconnect(client: SignalingClient) -> asyncio.Event:
    gone = asyncio.Event()
    client.sio.on("disconnect", lambda *reason: gone.set())
    return gone


async def test_a_server_shutting_down_tells_nobody_and_frees_its_seats(redis,
                                                                       fast_path):
    """The seed's Step 9, with two servers: server one closes; its people are disconnected,
    their seats freed quietly, and nobody (on either server) is told that anyone left: the
    audio between them still flows peer to peer."""
    one = await SignalingServer(redis_url=redis.url, fast_path=fast_path).start()
    async with SignalingServer(redis_url=redis.url, fast_path=fast_path) as two:
        alice = await person("Alice", one.url)
        bob = await person("Bob", two.url)
        gone = on_disconnect(alice)
        await one.close()
        await asyncio.wait_for(gone.wait(), 5)
        # Seats freed, server one forgotten (so no reaper will ever announce its people).
        assert [m["username"] for m in await two.members(ROOM)] == ["Bob"]
        assert "talklab:alive:" + one.app.store.server_id not in redis.scan()
        assert one.app.store.server_id not in redis.cli("SMEMBERS", "talklab:servers")
        # Bob is still served (a round trip through server two), and was told nothing.
        await bob.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})
        assert "no member" in (await bob.next("signalingError"))["message"]
        await two.app.store.liveness.wait_rounds(1)  # (a reaper round has run, too)
        assert bob.all("userLeftVoice") == [] and bob.all("userLeftRoom") == []
        assert alice.all("userLeftVoice") == [] and alice.all("userLeftRoom") == []
        await alice.close()
        await bob.close()


async def test_a_redis_that_stops_answering(redis, fast_path):
    """SIGSTOP the redis-server: a join pending on it fails within the URL's timeout with a
    clear signalingError; relays between people already in voice keep working off the
    replica; /health answers (503) within a bound. (What happens once it answers again is the
    next test's: this one measures time, and has the machine to itself while it runs.)"""
    url = redis.url + "?socket_timeout=1&socket_connect_timeout=1"
    async with SignalingServer(redis_url=url, fast_path=fast_path) as one:
        alice = await person("Alice", one.url)
        bob = await person("Bob", one.url)
        carol = await person("Carol", one.url, voice=False)
        loop = asyncio.get_running_loop()
        redis.stop()
        try:
            started = loop.time()
            await carol.emit("joinVoice", {"room": ROOM})
            error = await carol.next("signalingError", timeout=5)
            assert loop.time() - started < 3
            assert error["event"] == "joinVoice"
            assert error["message"].startswith("the room service did not answer")
            assert "internal error" not in error["message"]
            assert "Traceback" not in error["message"]
            # The server keeps serving: relays between people in voice, checked by the replica.
            await alice.emit("webrtc-offer", {"offer": OFFER, "to": bob.sid})
            assert (await bob.next("webrtc-offer"))["from"] == alice.sid
            await bob.emit("webrtc-answer", {"answer": ANSWER, "to": alice.sid})
            assert (await alice.next("webrtc-answer"))["from"] == bob.sid
            started = loop.time()
            status, body = await asyncio.to_thread(health, one.url, 10)
            assert loop.time() - started < 3
            assert status == 503 and body["status"] == "unavailable"
            assert "did not answer" in body["message"]
        finally:
            redis.resume()
        for c in (alice, bob, carol):
            await c.close()


async def test_after_redis_stopped_past_a_heartbeat_everything_recovers(redis, fast_path):
    """SIGSTOP the redis-server past a heartbeat's expiry (two failed heartbeats on each of two
    servers), then SIGCONT: a join works again, the room hears of it across servers, /health
    counts right, and nobody was reaped for Redis's absence."""
    url = redis.url + "?socket_timeout=1&socket_connect_timeout=1"
    async with SignalingServer(redis_url=url, fast_path=fast_path) as one, \
            SignalingServer(redis_url=url, fast_path=fast_path) as two:
        alice = await person("Alice", one.url)
        bob = await person("Bob", one.url)
        dan = await person("Dan", two.url)
        carol = await person("Carol", one.url, voice=False)
        redis.stop()
        try:
            for server in (one, two):
                await server.app.store.liveness.wait_rounds(2, failed=True)
        finally:
            redis.resume()
        await carol.emit("joinVoice", {"room": ROOM})
        joined = await carol.next("voiceJoined", timeout=5)
        assert [p["username"] for p in joined["peers"]] == ["Alice", "Bob", "Dan"]
        for c in (alice, bob, dan):
            await c.next("userJoinedVoice", where=lambda e: e["username"] == "Carol")
        assert (await asyncio.to_thread(health, two.url))[1]["inVoice"] == 4
        await dan.emit("webrtc-offer", {"offer": OFFER, "to": carol.sid})  # across servers
        assert (await carol.next("webrtc-offer", timeout=5))["from"] == dan.sid
        # Redis's absence (longer than a heartbeat's expiry? no matter) reaped nobody.
        for server in (one, two):
            await server.app.store.liveness.wait_rounds(2)
        assert all(c.all("userLeftVoice") == [] for c in (alice, bob, carol, dan))
        for c in (alice, bob, carol, dan):
            await c.close()


async def test_servers_carry_on_after_redis_restarts(tmp_path, fast_path):
    """Redis restarts empty (no persistence here): each server subscribes again, reloads its
    scripts, reopens its command connection, and new rooms work across servers."""
    r = start_redis(tmp_path)
    try:
        async with SignalingServer(redis_url=r.url, fast_path=fast_path) as one, \
                SignalingServer(redis_url=r.url, fast_path=fast_path) as two:
            stop_redis(r)
            r = start_redis(tmp_path, port=r.port)
            for server in (one, two):
                await server.app.store.subscribed(2)
            alice = await person("Alice", one.url)
            bob = await person("Bob", two.url)
            await alice.emit("webrtc-offer", {"offer": OFFER, "to": bob.sid})
            assert (await bob.next("webrtc-offer"))["from"] == alice.sid
            await bob.emit("webrtc-answer", {"answer": ANSWER, "to": alice.sid})
            assert (await alice.next("webrtc-answer"))["from"] == bob.sid
            for c in (alice, bob):
                await c.close()
    finally:
        stop_redis(r)


async def test_someone_hanging_up_while_redis_is_away_leaves_once_it_is_back(
        redis, fast_path):
    url = redis.url + "?socket_timeout=0.5&socket_connect_timeout=0.5"
    async with SignalingServer(redis_url=url, fast_path=fast_path) as one:
        alice = await person("Alice", one.url)
        bob = await person("Bob", one.url)
        redis.stop()
        await bob.close()  # its seat cannot be freed now
        await one.app.store.liveness.wait_rounds(1, failed=True)
        redis.resume()
        assert await alice.next("userLeftVoice", timeout=10) == {"socketId": bob.sid, "room": ROOM}
        assert await alice.next("userLeftRoom") == {"socketId": bob.sid, "room": ROOM}
        assert [m["username"] for m in await one.members(ROOM)] == ["Alice"]
        await alice.close()


async def test_after_redis_was_away_a_server_waits_before_reaping(redis):
    """When Redis comes back, every server's heartbeat may have lapsed at once: a server that
    could not beat waits a whole expiry before it takes anyone else for dead. A server that
    really stopped is still reaped after that."""
    from talklab.server.redis import RedisStore
    from talklab.server.redis.liveness import ALIVE_MS, BEAT_S
    url = redis.url + "?socket_timeout=0.5&socket_connect_timeout=0.5"
    one, two = RedisStore(url, voice_cap=6), RedisStore(url, voice_cap=6)
    await one.start()
    await two.start()
    try:
        await two.join_room("sid-b", ROOM, "Bob", None)
        two.liveness.stop()  # server two hangs: no more heartbeats...
        redis.cli("DEL", two.keys.alive(two.server_id))  # ...and its key has lapsed
        redis.stop()
        await one.liveness.wait_rounds(1, failed=True)
        redis.resume()
        loop = asyncio.get_running_loop()
        back = loop.time()
        await one.liveness.wait_rounds(1)
        assert "talklab:m:sid-b" in redis.scan()  # not yet
        while "talklab:m:sid-b" in redis.scan():
            await one.liveness.wait_rounds(1)
        assert loop.time() - back >= ALIVE_MS / 1000 + BEAT_S - 1  # (after the quiet time)
    finally:
        await one.close()
        await two.close()
