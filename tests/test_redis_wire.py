"""Redis on the wire (server/redis/): the URL, RESP by hand, every connection honouring the
URL (database, login, TLS, Unix socket, timeouts), the key names, and the batched scripts.

The protocols are first driven by hand (no socket); everything else runs against a real
redis-server, on database 3 unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest
from server_fixtures import Redis, start_redis, stop_redis

from talklab.server.member import Member
from talklab.server.redis import RedisStore, RedisUnavailable, RedisURLError, parse_url
from talklab.server.redis.liveness import Liveness
from talklab.server.redis.rebuild import Registration, rows, seats_lost
from talklab.server.redis.scripts import KEY_NAMES, Keys, key_names
from talklab.server.redis.session import Session
from talklab.server.redis.wire import Client, Connection, Subscriber, command
from talklab.server.replica import upsert
from talklab.server.rooms import RoomError


# -- the URL -------------------------------------------------------------------------------------
def test_urls_are_read_as_redis_py_reads_them():
    o = parse_url("redis://127.0.0.1:7000/3")
    assert (o.host, o.port, o.db, o.password, o.tls, o.path) == ("127.0.0.1", 7000, 3, None,
                                                                  False, None)
    assert (o.socket_timeout, o.socket_connect_timeout) == (5.0, 5.0)
    o = parse_url("redis://al%40ice:p%3Ass@h/2?socket_timeout=0.5&socket_connect_timeout=2&db=4")
    assert (o.username, o.password, o.db, o.socket_timeout, o.socket_connect_timeout) == (
        "al@ice", "p:ss", 4, 0.5, 2.0)  # (db in the query wins over the path, as in redis-py)
    assert parse_url("redis://:secret@h").password == "secret"
    assert parse_url("redis://h").port == 6379 and parse_url("redis://h").db == 0
    o = parse_url("unix:///run/redis.sock?db=5")
    assert (o.path, o.db) == ("/run/redis.sock", 5)
    o = parse_url("rediss://h:6380/1?ssl_cert_reqs=none")
    assert o.tls and o.ssl_context().verify_mode.name == "CERT_NONE"
    assert not o.ssl_context().check_hostname
    assert parse_url("rediss://h").ssl_context().check_hostname
    assert "secret" not in parse_url("redis://:secret@h/1").where


@pytest.mark.parametrize("url,why", [
    ("http://h:1/0", "starts with redis://"),
    ("redis://h/three", "database must be a number"),
    ("redis://h/-1", "0 or more"),
    ("redis://h:99999/0", "port"),
    ("redis://h/0?socket_timeout=soon", "number of seconds"),
    ("redis://h/0?socket_timeout=0", "more than 0"),
    ("redis://h/0?timeout=1", "unknown option 'timeout'"),
    ("redis://h/0?ssl_cert_reqs=none", "need a rediss://"),
    ("rediss://h/0?ssl_cert_reqs=maybe", "none, optional or required"),
    ("rediss://h/0?ssl_ca_certs=/nonexistent/ca.pem", "TLS options"),
    ("unix://", "socket's path"),
    (None, "must be a string"),
])
def test_a_bad_url_says_why_before_anything_connects(url, why):
    with pytest.raises(RedisURLError, match=why):
        parse_url(url)
    with pytest.raises(RedisURLError, match=why):
        RedisStore(url, voice_cap=6)  # (a ValueError: the server refuses to be made)


def test_commands_are_resp_arrays_of_bulk_strings():
    assert command("PUBLISH", "ch", "hé\nllo") == (
        b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$7\r\nh\xc3\xa9\nllo\r\n")
    assert command("SELECT", 3) == b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"


# -- the protocols, by hand ----------------------------------------------------------------------
class FakeTransport:
    """Collects what a protocol writes; no socket."""

    def __init__(self) -> None:
        self.written = b""
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close


def by_hand(cls=Connection, *args, url="redis://h/3?socket_timeout=0.2"):
    conn = cls(parse_url(url), *args)
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


async def test_replies_go_to_their_callers_in_order():
    conn, transport = by_hand()
    replies: list = []
    for parts in (("PING",), ("EVALSHA", "nope", 0), ("GET", "k")):
        conn.send(replies.append, command(*parts))
    assert transport.written.startswith(b"*1\r\n$4\r\nPING\r\n*3\r\n$7\r\nEVALSHA")
    for chunk in (b"+PO", b"NG\r\n-NOSCRIPT No matching script\r\n$3\r", b"\nabc\r\n"):
        conn.data_received(chunk)  # replies may arrive cut anywhere
    assert replies[0] == "PONG" and replies[2] == "abc"
    assert str(replies[1]).startswith("NOSCRIPT")
    conn.send(replies.append, command("GET", "k"))
    conn.connection_lost(None)  # whoever still waits is told
    assert isinstance(replies[3], RedisUnavailable) and "was lost" in str(replies[3])
    conn.send(replies.append, command("GET", "k"))  # and later callers at once
    assert isinstance(replies[4], RedisUnavailable)


async def test_a_reply_that_does_not_come_fails_every_waiting_call_in_time():
    conn, transport = by_hand()
    failed = asyncio.Event()
    replies: list = []

    def got(reply):
        replies.append(reply)
        if len(replies) == 2:
            failed.set()

    started = asyncio.get_running_loop().time()
    conn.send(got, command("PING"))
    conn.send(got, command("PING"))
    await asyncio.wait_for(failed.wait(), 2)
    assert asyncio.get_running_loop().time() - started < 1
    assert all(isinstance(r, RedisUnavailable) and "did not answer within 0.2 s" in str(r)
               for r in replies)
    assert transport.closing  # (a late reply could no longer be matched to its command)


async def test_garbage_from_the_server_drops_the_connection():
    conn, transport = by_hand()
    replies: list = []
    conn.send(replies.append, command("PING"))
    conn.data_received(b"!not resp\r\n")
    assert isinstance(replies[0], RedisUnavailable) and transport.closing


async def test_the_subscriber_hands_over_each_message_as_it_is_read():
    got, lost = [], []
    sub, transport = by_hand(Subscriber, ["a", "b"], lambda ch, data: got.append((ch, data)))
    sub.on_lost = lambda: lost.append(True)
    sub.subscribe()
    assert transport.written == b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n"
    data = (b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
            b"*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$6\r\nx\ny \xc3\xa9\r\n")
    for i in range(0, len(data), 7):
        sub.data_received(data[i:i + 7])
    assert sub.subscribed.done() and got == [("b", "x\ny é")]
    sub.connection_lost(None)
    assert lost == [True]


# -- the store's pieces, with what they are given (no Redis) --------------------------------------
def test_a_server_writes_its_people_back_oldest_first_without_those_leaving():
    ann, ben = Member("s-ann", "u1", "Ann", "ROOM", True), Member("s-ben", "u2", "Ben", "ROOM")
    cat = Member("s-cat", "u3", "Cat", "ROOM", True)
    own = {"s-cat": cat, "s-ann": ann, "s-ben": ben}
    assert rows(own, {"s-ann": 4, "s-ben": 7, "s-cat": 5}, leaving={"s-ben"}) == [
        ["s-ann", "ROOM", 1, "Ann", "u1", 4], ["s-cat", "ROOM", 1, "Cat", "u3", 5]]
    written = Registration(rows(own, {"s-ann": 4, "s-ben": 7, "s-cat": 5}), 10, 7)
    back = [upsert(11, ann, "srv", 4).decode(),  # Ann seated again, Cat not (the room filled)
            upsert(12, Member("s-cat", "u3", "Cat", "ROOM", False), "srv", 5).decode(),
            upsert(13, ben, "srv", 7).decode()]
    assert seats_lost(written, back) == 1


async def test_liveness_retries_a_leave_through_the_callbacks_it_was_given():
    """The heartbeat's owner hands over who hung up while Redis was away; Liveness leaves
    them later through ``leave`` and asks ``members`` for a room Redis forgot (no store)."""
    ann, ben = Member("s-ann", "u1", "Ann", "ROOM", True), Member("s-ben", "u2", "Ben", "ROOM")
    asked: list[str] = []

    async def leave(sid: str):
        asked.append(sid)
        if sid == "s-down":
            raise RedisUnavailable("still away")
        return None, []  # (Redis restarted empty: it has forgotten them)

    async def members(room: str) -> list[Member]:
        return [ben]

    async def restarted() -> None:
        raise AssertionError("not asked")

    live = Liveness(Session(parse_url("redis://127.0.0.1:1/3")), leave=leave, members=members,
                    restarted=restarted)
    live.hung_up("s-ann", ann)
    live.hung_up("s-down", None)
    assert await live.finish_leaving() == [(ann, [ben])]  # Ann's room is told all the same
    assert sorted(asked) == ["s-ann", "s-down"] and live.unfinished == {"s-down"}


# -- every connection honours the URL ------------------------------------------------------------
def client_dbs(redis: Redis) -> list[int]:
    """The database of every talklab connection, as Redis sees it (CLIENT LIST)."""
    lines = redis.cli("CLIENT", "LIST", db=0).splitlines()
    fields = [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in lines]
    return [int(f["db"]) for f in fields if f.get("cmd") != "client|list"]


async def test_both_connections_select_the_database_and_keys_land_there(redis):
    store = RedisStore(redis.url, voice_cap=6)
    await store.start()
    try:
        await store.join_room("sid-a", "ROOM3", "Alice", None)
        await store.join_voice("sid-a", "ROOM3")
        await store.session.publisher.execute("PING")  # (it opens with the first PUBLISH)
        assert client_dbs(redis) == [3, 3, 3]  # commands, publishing, the subscription
        k = store.keys
        assert redis.scan() == {k.member("sid-a"), k.room("ROOM3"), k.voice("ROOM3"),
                                k.server(store.server_id), k.alive(store.server_id),
                                k.servers, k.seq, k.ver, k.user_ids("ROOM3"), k.epoch,
                                *k.counters}
        assert redis.scan(db=0) == set()
        assert redis.cli("HGET", k.member("sid-a"), "username").strip() == "Alice"
    finally:
        await store.close()
    # A clean close forgets the heartbeat and the server (its people leave as their sockets
    # close, which the signaling app does: here there were none).
    assert store.keys.alive(store.server_id) not in redis.scan()
    assert store.keys.servers not in redis.scan()


async def test_lua_builds_the_key_names_python_builds(redis):
    for prefix in ("talklab:", "other.app:"):
        keys = Keys(prefix, 3)
        client = Client(parse_url(redis.url))
        got = await client.run(KEY_NAMES, prefix, "sid-1", "ROOM", "server-9")
        await client.close()
        assert got == key_names(keys, "sid-1", "ROOM", "server-9")
    with pytest.raises(ValueError, match="prefix"):
        Keys("no*globs:")


async def test_two_databases_of_one_redis_never_meet(redis):
    """Pub/Sub ignores the database, so the channels name it."""
    one = RedisStore(redis.url, voice_cap=6)
    other = RedisStore(redis.url.rsplit("/", 1)[0] + "/4", voice_cap=6)
    await one.start()
    await other.start()
    try:
        await one.join_room("sid-a", "R", "Alice", None)
        await other.join_room("sid-b", "R", "Bob", None)
        await one.liveness.wait_rounds(1)
        assert [m.username for m in await one.members("R")] == ["Alice"]
        assert set(other.replica.rooms.members) == {"sid-b"}
        assert one.keys.events != other.keys.events
    finally:
        await one.close()
        await other.close()


async def test_a_password_and_a_user_are_sent_before_anything(tmp_path):
    r = start_redis(tmp_path, "--requirepass", "s3cret", "--user", "alice", "on", ">pw", "~*",
                    "&*", "+@all")
    try:
        for url in (f"redis://:s3cret@127.0.0.1:{r.port}/3",
                    f"redis://alice:pw@127.0.0.1:{r.port}/3"):
            store = RedisStore(url, voice_cap=6)
            await store.start()
            await store.join_room("sid-a", "R", "Alice", None)
            assert [m.username for m in await store.members("R")] == ["Alice"]
            await store.leave_room("sid-a")
            await store.close()
        store = RedisStore(f"redis://alice:wrong@127.0.0.1:{r.port}/3", voice_cap=6)
        with pytest.raises(RedisUnavailable, match="refused AUTH"):
            await store.start()
        await store.close()
    finally:
        stop_redis(r)


async def test_a_database_redis_does_not_have_is_refused_clearly(redis):
    store = RedisStore(redis.url.rsplit("/", 1)[0] + "/99", voice_cap=6)
    with pytest.raises(RedisUnavailable, match="refused SELECT"):
        await store.start()
    await store.close()


async def test_a_unix_socket(tmp_path):
    path = tmp_path / "redis.sock"
    r = start_redis(tmp_path, "--unixsocket", str(path), "--unixsocketperm", "700")
    try:
        store = RedisStore(f"unix://{path}?db=3", voice_cap=6)
        await store.start()
        await store.join_room("sid-a", "R", "Alice", None)
        assert r.scan() >= {store.keys.member("sid-a")}
        await store.close()
    finally:
        stop_redis(r)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA, and a certificate it signed for 127.0.0.1 (openssl)."""
    d = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=talklab test CA", "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
            "redis.key", "-out", "redis.csr")
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "redis.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "redis.pem")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=another CA", "-keyout", "other.key", "-out", "other.pem")
    return d


async def test_tls_checks_the_servers_certificate(tmp_path, certificates):
    from server_fixtures import free_port
    port = free_port()
    c = certificates
    r = start_redis(tmp_path, "--port", "0", "--tls-port", str(port), "--tls-cert-file",
                    str(c / "redis.pem"), "--tls-key-file", str(c / "redis.key"),
                    "--tls-ca-cert-file", str(c / "ca.pem"), "--tls-auth-clients", "no")
    try:
        url = f"rediss://127.0.0.1:{port}/3?ssl_ca_certs={c / 'ca.pem'}"
        store = RedisStore(url, voice_cap=6)
        await store.start()
        await store.join_room("sid-a", "R", "Alice", None)
        assert [m.username for m in await store.members("R")] == ["Alice"]
        await store.close()
        wrong = RedisStore(f"rediss://127.0.0.1:{port}/3?ssl_ca_certs={c / 'other.pem'}",
                           voice_cap=6)
        with pytest.raises(RedisUnavailable, match="TLS"):
            await wrong.start()
        await wrong.close()
    finally:
        stop_redis(r)


# -- a Redis that stops answering ----------------------------------------------------------------
async def test_a_stopped_redis_fails_every_call_within_the_timeout(redis):
    store = RedisStore(redis.url + "?socket_timeout=0.5&socket_connect_timeout=0.5",
                       voice_cap=6)
    await store.start()
    try:
        await store.join_room("sid-a", "R", "Alice", None)
        redis.stop()
        loop = asyncio.get_running_loop()
        started = loop.time()
        calls = [store.join_voice("sid-a", "R"), store.counts(), store.members("R"),
                 store.forward("sid-unknown", '2["x",1]')]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
        assert loop.time() - started < 1.5
        assert all(isinstance(r, RedisUnavailable) for r in results), results
        assert "did not answer within 0.5 s" in str(results[0])
        started = loop.time()  # the next call opens a connection, which is not answered either
        with pytest.raises(RedisUnavailable, match="did not answer"):
            await asyncio.wait_for(store.counts(), 5)
        assert loop.time() - started < 1.5
        redis.resume()
        await store.join_voice("sid-a", "R")  # nothing ran late: the seat is still free
        assert (await store.counts())["inVoice"] == 1
    finally:
        redis.resume()
        await store.close()


async def test_a_batch_redis_runs_too_late_changes_nothing(redis):
    """Redis stopped keeps what was sent meanwhile and runs it when it resumes, after the
    caller was told it failed: the batch's deadline makes it a no-op then."""
    store = RedisStore(redis.url + "?socket_timeout=0.3", voice_cap=6)
    await store.start()
    try:
        await store.join_room("sid-a", "R", "Alice", None)
        redis.stop()
        with pytest.raises(RedisUnavailable):
            await store.join_voice("sid-a", "R")
        redis.resume()
        assert (await store.counts())["inVoice"] == 0  # (counts runs after the late batch)
        assert redis.cli("HGET", store.keys.member("sid-a"), "in_voice").strip() == "0"
    finally:
        redis.resume()
        await store.close()


# -- the batched changes -------------------------------------------------------------------------
async def test_one_failing_change_does_not_fail_the_others_in_its_batch(redis):
    """Changes asked for in one turn of the loop run as one script call; a change that fails
    there (here: one the script does not know) is refused on its own."""
    store = RedisStore(redis.url, voice_cap=6)
    await store.start()
    try:
        joined, broken = await asyncio.gather(
            store.join_room("sid-1", "R", "Alice", None),
            store._change("no-such-change", []), return_exceptions=True)
        assert joined[0].username == "Alice" and [m.username for m in joined[1]] == ["Alice"]
        assert broken == ["ERR", "internal error"]
        with pytest.raises(RoomError, match="already in room"):
            await store.join_room("sid-1", "R", "Alice", None)
    finally:
        await store.close()


async def test_messages_between_servers_keep_their_order_and_survive_a_lost_connection(
        redis):
    """What one server publishes reaches another in the order it was queued; if the command
    connection drops, the next message opens a new one."""
    got: list[tuple[str, str | None, str]] = []
    arrived = asyncio.Event()

    def on_forwarded(batch) -> None:  # called as each message is read
        got.extend(batch)
        if len(got) in (500, 501):
            arrived.set()

    one = RedisStore(redis.url, voice_cap=6)
    two = RedisStore(redis.url, voice_cap=6, on_forwarded=on_forwarded)
    await one.start()
    await two.start()
    try:
        one.channels.note("sid-x", two.server_id)  # as a room list would have told it
        for n in range(500):
            await one.forward("sid-x", f'2["n",{n}]')
            if n % 100 == 0:
                await asyncio.sleep(0)  # several turns of the loop, several batches
        await asyncio.wait_for(arrived.wait(), 5)
        assert got == [("sid-x", None, f'2["n",{n}]') for n in range(500)]
        arrived.clear()
        one.session.publisher._conn.transport.abort()  # the connection is lost
        await one.forward("sid-x", '2["after",1]')
        await asyncio.wait_for(arrived.wait(), 5)
        assert got[-1] == ("sid-x", None, '2["after",1]')
    finally:
        await one.close()
        await two.close()


def test_a_batch_deadline_is_the_timeout_less_a_margin():
    """A batch stops being worth running a little before its caller gives up on it (ms, on
    Redis's clock: here, before any offset was measured, ours)."""
    store = RedisStore("redis://127.0.0.1:1/3?socket_timeout=2", voice_cap=6)
    now_ms = time.time() * 1000
    assert now_ms + 1400 <= store.session.deadline() <= now_ms + 1600  # timeout minus a margin
