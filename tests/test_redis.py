"""Several signaling servers, one set of rooms: talklab-server --redis, with a real redis-server.

Each test starts redis-server (Debian's, installed by `make test`) on a free loopback port and
two or three talklab-server processes pointing at it, and spreads the seed's people over them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from talklab.server import VOICE_FULL_MESSAGE
from talklab.signaling import SignalingClient

ROOM = "ABCD12"
OFFER = {"type": "offer", "sdp": "v=0\r\ns=offer\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\ns=answer\r\n"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (run `make test`, which installs it)"
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # redis says when it accepts connections
            if "Ready to accept connections" in line:
                break
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def servers(redis_url):
    """``servers(n)``: n talklab-server processes sharing ``redis_url``; returns their URLs."""
    procs: list[subprocess.Popen] = []

    def start(n: int) -> list[tuple[str, subprocess.Popen]]:
        out = []
        for _ in range(n):
            proc = subprocess.Popen([sys.executable, "-m", "talklab.server", "--port", "0",
                                     "--redis", redis_url], stdout=subprocess.PIPE, text=True,
                                    env=dict(os.environ, PYTHONUNBUFFERED="1"))
            procs.append(proc)
            line = proc.stdout.readline()
            assert "http://127.0.0.1:" in line, line
            out.append((line.split()[-1], proc))
        return out

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


async def person(name: str, url: str, voice: bool = True) -> SignalingClient:
    c = await SignalingClient(name).connect(url)
    await c.emit("joinRoom", {"room": ROOM, "username": name})
    await c.next("roomJoined")
    if voice:
        await c.emit("joinVoice", {"room": ROOM})
        await c.next("voiceJoined")
    return c


async def test_the_dave_scenario_across_two_servers(servers):
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
    for c in (alice, bob, charlie, dave, eve):
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


async def test_a_killed_server_frees_its_seats_and_the_others_are_told(servers):
    (one, _), (two, doomed) = servers(2)
    alice = await person("Alice", one)
    bob = await person("Bob", two)
    others = [await person(f"P{i}", one) for i in range(4)]  # 6 in voice: full
    late = await person("Late", one, voice=False)
    await late.emit("joinVoice", {"room": ROOM})
    assert (await late.next("voiceError"))["message"] == VOICE_FULL_MESSAGE

    doomed.send_signal(signal.SIGKILL)  # no goodbye: its sockets and heartbeat just stop
    doomed.wait(timeout=10)
    for c in (alice, *others):
        assert await c.next("userLeftVoice", timeout=10) == {"socketId": bob.sid}
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
    assert await alice.next("userLeftVoice") == {"socketId": bob.sid}
    await alice.emit("webrtc-offer", {"offer": OFFER, "to": bob.sid})  # checked on server one
    assert "not in voice" in (await alice.next("signalingError"))["message"]
    await bob.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})  # checked on server two
    assert "not in voice" in (await bob.next("signalingError"))["message"]
    # Bob moves to another room: to server one he is no longer in Alice's room at all.
    await bob.emit("joinRoom", {"room": "ELSEWHERE", "username": "Bob"})
    await bob.next("roomJoined")
    assert await alice.next("userLeftRoom") == {"socketId": bob.sid}
    await alice.emit("webrtc-offer", {"offer": OFFER, "to": bob.sid})
    assert "no member" in (await alice.next("signalingError"))["message"]
    assert alice.all("webrtc-offer") == [] and bob.all("webrtc-offer") == []
    for c in (alice, bob):
        await c.close()


async def test_a_server_started_later_knows_the_rooms_already_there(servers, redis_url):
    """A new server loads a snapshot of every member before it serves anyone."""
    from talklab.server import SignalingServer
    ((one, _),) = servers(1)
    alice = await person("Alice", one)
    bob = await person("Bob", one)
    async with SignalingServer(redis_url=redis_url) as late:
        replica = late.app.store.replica
        assert {m.username for m in replica.rooms.in_voice(ROOM)} == {"Alice", "Bob"}
        assert replica.server_of[alice.sid] == replica.server_of[bob.sid] != \
            late.app.store.server_id
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


async def test_one_failing_change_does_not_fail_the_others_in_its_batch(redis_url):
    """Changes asked for in one turn of the loop run as one script call; a change that fails
    there (here: one the script does not know) is refused on its own."""
    from talklab.server.redis_store import RedisStore
    from talklab.server.rooms import RoomError
    store = RedisStore(redis_url, voice_cap=6)
    await store.start()
    try:
        joined, broken = await asyncio.gather(
            store.join_room("sid-1", ROOM, "Alice", None),
            store._scripts.run("no-such-change", [], []), return_exceptions=True)
        assert joined[0].username == "Alice" and [m.username for m in joined[1]] == ["Alice"]
        assert broken == ["ERR", "internal error"]
        with pytest.raises(RoomError, match="already in room"):
            await store.join_room("sid-1", ROOM, "Alice", None)
    finally:
        await store.close()


def test_publish_commands_are_resp_arrays_of_bulk_strings():
    from talklab.server.redis_store import resp_command
    assert resp_command("PUBLISH", "ch", "hé\nllo") == (
        b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$7\r\nh\xc3\xa9\nllo\r\n")


async def test_messages_between_servers_keep_their_order_and_survive_a_lost_connection(
        redis_url):
    """What one server publishes reaches another in the order it was queued; if the publishing
    connection drops, the next message opens a new one."""
    from talklab.server.redis_store import RedisStore
    got: list[tuple[str, str]] = []
    arrived = asyncio.Event()

    def on_message(sid: str, text: str) -> None:  # called as the message is read
        got.append((sid, text))
        if len(got) in (500, 501):
            arrived.set()

    one = RedisStore(redis_url, voice_cap=6)
    two = RedisStore(redis_url, voice_cap=6, on_message=on_message)
    await one.start()
    await two.start()
    try:
        one._hints["sid-x"] = two.server_id  # as a room list would have told it
        for n in range(500):
            await one.forward("sid-x", f'2["n",{n}]')
            if n % 100 == 0:
                await asyncio.sleep(0)  # several turns of the loop, several batches
        await asyncio.wait_for(arrived.wait(), 5)
        assert got == [("sid-x", f'2["n",{n}]') for n in range(500)]
        arrived.clear()
        one._publisher.transport.abort()  # the connection is lost
        await one.forward("sid-x", '2["after",1]')
        await asyncio.wait_for(arrived.wait(), 5)
        assert got[-1] == ("sid-x", '2["after",1]')
    finally:
        await one.close()
        await two.close()


class FakeTransport:
    """Collects what a protocol writes; no socket (the protocols are driven by hand)."""

    def __init__(self) -> None:
        self.written = b""
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


async def test_commands_hand_each_reply_to_its_caller_in_order():
    from talklab.server.redis_store import Commands
    conn = Commands()
    conn.connection_made(FakeTransport())
    replies: list = []
    conn.call(replies.append, "PING")
    conn.call(replies.append, "EVALSHA", "nope", "0")
    conn.call(replies.append, "GET", "k")
    assert conn.transport.written.startswith(b"*1\r\n$4\r\nPING\r\n*3\r\n$7\r\nEVALSHA")
    for chunk in (b"+PO", b"NG\r\n-NOSCRIPT No matching script\r\n$3\r", b"\nabc\r\n"):
        conn.data_received(chunk)  # replies may arrive cut anywhere
    assert replies[0] == "PONG" and replies[2] == "abc"
    assert str(replies[1]).startswith("NOSCRIPT")
    conn.call(replies.append, "GET", "k")
    conn.connection_lost(None)  # whoever still waits is told
    assert isinstance(replies[3], ConnectionError)
    conn.call(replies.append, "GET", "k")  # and later callers at once
    assert isinstance(replies[4], ConnectionError)


async def test_the_subscriber_hands_over_each_message_as_it_is_read():
    from talklab.server.redis_store import Subscriber
    got, lost = [], []
    sub = Subscriber(["a", "b"], lambda channel, data: got.append((channel, data)),
                     lambda: lost.append(True))
    sub.connection_made(FakeTransport())
    assert sub.transport.written == b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n"
    data = (b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
            b"*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$6\r\nx\ny \xc3\xa9\r\n")
    for i in range(0, len(data), 7):
        sub.data_received(data[i:i + 7])
    assert sub.subscribed.done() and got == [("b", "x\ny é")]
    sub.connection_lost(None)
    assert lost == [True]


async def test_servers_carry_on_after_redis_restarts(tmp_path):
    """Redis restarts empty (no persistence here): each server subscribes again, reloads its
    script, reconnects its publisher, and new rooms work across servers."""
    from talklab.server import SignalingServer
    port = free_port()

    def start_redis() -> subprocess.Popen:
        proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind",
                                 "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                                 str(tmp_path)], stdout=subprocess.PIPE, text=True)
        next(line for line in proc.stdout if "Ready to accept connections" in line)
        return proc

    redis_proc = start_redis()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        async with SignalingServer(redis_url=url) as one, SignalingServer(redis_url=url) as two:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
            redis_proc = start_redis()
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
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
