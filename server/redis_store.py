"""Rooms and seats in Redis: one set of rooms for several signaling servers.

The seed keeps ``userSocketMap`` in one Node process, so it cannot run on two machines. Here the
same facts live in Redis, and every rule that must be atomic runs as one Lua script (Redis runs
a script with nothing interleaved), so 7 people joining voice at once through two servers still
get exactly 6 seats.

Keys (``P`` = ``talklab:``):

==========================  ============================================================
``P m:<sid>``               hash: sid, user_id, username, room, in_voice, server, seq, ver
``P r:<room>``              sorted set of the room's sids, by join order
``P v:<room>``              sorted set of the sids holding a voice seat, by join order
``P s:<server>``            set of the sids connected to that server
``P alive:<server>``        present while that server lives (it refreshes the expiry)
``P servers``               set of server ids
``P seq``                   counter: join order and generated user ids
``P ver``                   counter: the version of the newest announcement
``P events``                channel: member changes, announced (see :mod:`.replica`)
``P to:<server>``           channel: messages for that server's sockets
==========================  ============================================================

Every script that changes a member answers with the member's new state, stamped with a version
number (an *announcement*), and the room as it now is. The server that ran it applies the
announcement to its own :class:`.replica.Replica` at once and publishes it on ``P events``;
every server applies the others'. Relays are checked against the replica, with no round trip to
Redis. A message for someone on another server is published on that server's own channel.
Changes run in batches, one script call for all those asked for in one turn of the loop
(:class:`ScriptBatch`); announcements and messages are published at the end of each turn, on a
connection of their own, without waiting for replies (:class:`Commands`). (python-socketio's
Redis manager stays attached for anything else, but it sends every message to every server,
which cost more than the relay itself.)

A server that dies stops refreshing ``alive``; within a few seconds another server's reaper
claims its sids (atomically: only one reaper wins), frees their seats and tells their rooms.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import hiredis
import orjson
import redis.asyncio as redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from .engine import flush_now
from .replica import Replica, member_of
from .rooms import Member, RoomError, VoiceFull

log = logging.getLogger("talklab.server.redis")

P = "talklab:"
ALIVE_MS = 3000  # a server silent this long is dead
BEAT_S = 1.0

# Shared by the scripts below. A member travels as an array,
#   [sid, server, room, in_voice, username, user_id, seq]
# and an announcement is that array after a new version number ([ver, sid] for a deletion).
# The script returns the announcement; the server that ran it publishes it (see RedisStore).
_LIB = """
local function member_of(sid)
  local h = redis.call('HMGET', 'talklab:m:' .. sid, 'server', 'room', 'in_voice', 'username',
                       'user_id', 'seq')
  if not h[1] then return nil end
  return {sid, h[1], h[2], tonumber(h[3]), h[4], h[5], tonumber(h[6])}
end
local function announce(sid)
  local ver = redis.call('INCR', 'talklab:ver')
  local m = member_of(sid)
  if not m then return cjson.encode({ver, sid}) end
  redis.call('HSET', 'talklab:m:' .. sid, 'ver', ver)
  table.insert(m, 1, ver)
  return cjson.encode(m)
end
local function room_list(room)
  local out = {}
  for _, sid in ipairs(redis.call('ZRANGE', 'talklab:r:' .. room, 0, -1)) do
    local m = member_of(sid)
    if m then table.insert(out, m) end
  end
  return out
end
"""

# Each change returns {'OK', its announcement (JSON text, to be published as is), the room's
# members afterwards} (or an error), so the server can answer and tell the room without asking
# anything else.
_JOIN_ROOM = """
local m = KEYS[1]
if redis.call('EXISTS', m) == 1 then
  return {'ERR', 'already in room ' .. redis.call('HGET', m, 'room')}
end
local seq = redis.call('INCR', KEYS[4])
local uid = ARGV[4]
if uid == '' then uid = 'u' .. seq end
redis.call('HSET', m, 'sid', ARGV[1], 'room', ARGV[2], 'username', ARGV[3], 'user_id', uid,
           'in_voice', '0', 'server', ARGV[5], 'seq', seq)
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return {'OK', announce(ARGV[1]), room_list(ARGV[2])}
"""

_JOIN_VOICE = """
local m = KEYS[1]
if redis.call('EXISTS', m) == 0 then return {'ERR', 'join a room first'} end
local room = redis.call('HGET', m, 'room')
if room ~= ARGV[2] then return {'ERR', 'not in room ' .. ARGV[2] .. '; join it first'} end
if redis.call('HGET', m, 'in_voice') == '1' then
  return {'ERR', 'already in voice in room ' .. room}
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'FULL'} end
redis.call('ZADD', KEYS[2], redis.call('HGET', m, 'seq'), ARGV[1])
redis.call('HSET', m, 'in_voice', '1')
return {'OK', announce(ARGV[1]), room_list(room)}
"""

_LEAVE_ROOM = """
local m = KEYS[1]
local before = member_of(ARGV[1])
if not before then return {} end
local room, server = before[3], before[2]
redis.call('ZREM', 'talklab:r:' .. room, ARGV[1])
redis.call('ZREM', 'talklab:v:' .. room, ARGV[1])
redis.call('SREM', 'talklab:s:' .. server, ARGV[1])
redis.call('DEL', m)
return {'OK', announce(ARGV[1]), room_list(room), before}
"""

_LEAVE_VOICE = """
local m = KEYS[1]
if redis.call('EXISTS', m) == 0 then return {'ERR', 'join a room first'} end
local room = redis.call('HGET', m, 'room')
if ARGV[2] ~= '' and room ~= ARGV[2] then return {'ERR', 'not in room ' .. ARGV[2]} end
if redis.call('HGET', m, 'in_voice') ~= '1' then return {'ERR', 'not in voice in room ' .. room} end
redis.call('ZREM', 'talklab:v:' .. room, ARGV[1])
redis.call('HSET', m, 'in_voice', '0')
return {'OK', announce(ARGV[1]), room_list(room)}
"""

# The four changes above, run as one script call for a whole batch of them (see ScriptBatch):
# ARGV[1] is a JSON list of [name, keys, args]; the answer is a JSON list of their answers.
_BATCH = _LIB + "local OPS = {}\n" + "".join(
    f"OPS['{name}'] = function(KEYS, ARGV)\n{body}\nend\n"
    for name, body in (("join_room", _JOIN_ROOM), ("join_voice", _JOIN_VOICE),
                       ("leave_room", _LEAVE_ROOM), ("leave_voice", _LEAVE_VOICE))) + """
local out = {}
for i, op in ipairs(cjson.decode(ARGV[1])) do
  local ok, answer = pcall(OPS[op[1]], op[2], op[3])  -- one change's error stays its own
  if ok then out[i] = answer else out[i] = {'ERR', 'internal error'} end
end
return cjson.encode(out)
"""

# Every member as its last announcement, and the version Redis stands at: one consistent
# snapshot for a new replica.
_SNAPSHOT = _LIB + """
local out = {redis.call('GET', 'talklab:ver') or '0'}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', 'talklab:m:*', 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    local m = member_of(string.sub(key, string.len('talklab:m:') + 1))
    if m then
      table.insert(m, 1, tonumber(redis.call('HGET', key, 'ver')) or 0)
      table.insert(out, cjson.encode(m))
    end
  end
until cursor == '0'
return out
"""

_CLAIM_DEAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local sids = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return sids
"""


def _from_hash(fields: dict) -> Member | None:
    """A member from its Redis hash (HGETALL), or None if there is none."""
    if not fields:
        return None
    return Member(sid=fields["sid"], user_id=fields["user_id"], username=fields["username"],
                  room=fields["room"], in_voice=fields.get("in_voice") == "1")


class ScriptBatch:
    """Run the changes that many handlers ask for in one turn of the event loop as one call of
    one Lua script, on a connection of its own (:class:`Commands`).

    A script call through redis-py costs about 75 us of this process's CPU time, and still
    about 11 us in a pipeline of a hundred (measured); it also takes turns of the loop: a task
    to start, another to wake on the reply. A class joining at nine o'clock makes three
    changes per person (join the room, join voice, hang up), all at once. Here the batch is
    written at the end of the turn that asked, and each handler's answer is set the moment the
    reply is read. Each change stays atomic: Redis runs the whole script with nothing
    interleaved.
    """

    def __init__(self, url: str) -> None:
        self.options = parse_url(url)
        self._conn: Commands | None = None
        self._sha = ""
        self._queued: list[tuple[str, list, list, asyncio.Future]] = []
        self._later: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._conn = await open_commands(self.options)
        self._sha = await self._call("SCRIPT", "LOAD", _BATCH)

    def _call(self, *parts: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._conn.call(lambda reply: _settle(future, reply), *parts)
        return future

    async def run(self, op: str, keys: list, args: list) -> Any:
        """The answer of change ``op`` (join_room, join_voice, leave_room, leave_voice)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._queued:
            loop.call_soon(self._flush)
        self._queued.append((op, keys, args, future))
        return await future

    def _flush(self) -> None:
        batch, self._queued = self._queued, []
        if self._conn is not None and self._conn.connected:
            self._send(batch)
        else:
            self._run_later(self._reconnect_and_send(batch))

    def _send(self, batch: list, retried: bool = False) -> None:
        ops = orjson.dumps([[op, [str(k) for k in keys], args] for op, keys, args, _ in batch])
        self._conn.call(lambda reply: self._answered(batch, reply, retried),
                        "EVALSHA", self._sha, "0", ops.decode())

    def _answered(self, batch: list, reply: Any, retried: bool) -> None:
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT") \
                and not retried:  # Redis restarted and forgot the script: nothing ran
            self._run_later(self._reload_and_send(batch))
            return
        if isinstance(reply, Exception):
            results: list = [RuntimeError(f"Redis: {reply}")] * len(batch)
        else:
            results = orjson.loads(reply)
        for (_, _, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result or [])  # (Lua's empty table comes back as {})

    async def _reload_and_send(self, batch: list) -> None:
        self._sha = await self._call("SCRIPT", "LOAD", _BATCH)
        self._send(batch, retried=True)

    async def _reconnect_and_send(self, batch: list) -> None:
        try:
            await self.start()
        except (OSError, ConnectionError) as exc:
            self._answered(batch, exc, True)
            return
        self._send(batch)

    def _run_later(self, job: Awaitable[None]) -> None:
        task = asyncio.ensure_future(job)
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def close(self) -> None:
        for task in list(self._later):
            task.cancel()
        if self._conn is not None:
            self._conn.close()


def _refused_publish(reply: Any) -> None:
    if isinstance(reply, Exception):
        log.warning("a publish to Redis failed: %s", reply)


def _settle(future: asyncio.Future, reply: Any) -> None:
    if future.done():
        return
    if isinstance(reply, Exception):
        future.set_exception(reply if not isinstance(reply, hiredis.ReplyError)
                             else RuntimeError(f"Redis: {reply}"))
    else:
        future.set_result(reply)


class Commands(asyncio.Protocol):
    """Redis commands on a connection of talklab's own: each written at once, and each reply
    handed to its callback the moment it is read (Redis answers in order; hiredis parses RESP
    as bytes arrive). If the connection is lost, every callback still waiting gets a
    ``ConnectionError``."""

    def __init__(self, auth: bytes = b"") -> None:
        self.auth = auth
        self.transport: asyncio.Transport | None = None
        self._parser = hiredis.Reader(encoding="utf-8")
        self._callbacks: collections.deque[Callable[[Any], None]] = collections.deque()

    @property
    def connected(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.auth:
            self._callbacks.append(lambda reply: None)  # +OK (or an error, then commands fail)
            transport.write(self.auth)  # type: ignore[attr-defined]

    def call(self, callback: Callable[[Any], None], *parts: str) -> None:
        if not self.connected:
            callback(ConnectionError("the connection to Redis is closed"))
            return
        self._callbacks.append(callback)
        self.transport.write(resp_command(*parts))

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        while (reply := self._parser.gets()) is not False:
            callback = self._callbacks.popleft()
            try:
                callback(reply)
            except Exception:
                log.exception("handling a reply from Redis failed")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        while self._callbacks:
            self._callbacks.popleft()(ConnectionError("the connection to Redis was lost"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def resp_command(*parts: str) -> bytes:
    """A Redis command as RESP puts it on the wire: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def open_redis(options: dict, protocol_factory: Callable[[], asyncio.Protocol]) -> Any:
    """A raw connection to Redis from ``parse_url``'s options (TCP, TLS or a Unix socket):
    ``(transport, protocol)``."""
    loop = asyncio.get_running_loop()
    if "path" in options:
        return await loop.create_unix_connection(protocol_factory, options["path"])
    tls = True if options.get("connection_class") is not None else None  # rediss://
    return await loop.create_connection(protocol_factory, options.get("host", "localhost"),
                                        options.get("port", 6379), ssl=tls)


async def open_commands(options: dict) -> Commands:
    _, commands = await open_redis(options, lambda: Commands(auth_command(options)))
    return commands


def auth_command(options: dict) -> bytes:
    if not options.get("password"):
        return b""
    return resp_command("AUTH", *filter(None, [options.get("username")]), options["password"])


class Subscriber(asyncio.Protocol):
    """SUBSCRIBE on a connection of its own; each published message is handed over the moment
    it is read, in the same turn of the event loop (hiredis parses RESP as bytes arrive).

    redis-py's subscription wakes a task for every message: one more turn of a busy loop before
    a forwarded message could leave for its browser.
    """

    def __init__(self, channels: list[str], on_message: Callable[[str, str], None],
                 on_lost: Callable[[], None], auth: bytes = b"") -> None:
        self.channels, self.on_message = channels, on_message
        self.on_lost, self.auth = on_lost, auth
        self._parser = hiredis.Reader(encoding="utf-8")
        self.transport: asyncio.Transport | None = None
        self.subscribed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.auth + resp_command("SUBSCRIBE", *self.channels))  # type: ignore

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        while (reply := self._parser.gets()) is not False:
            if isinstance(reply, list) and len(reply) == 3 and reply[0] == "message":
                try:
                    self.on_message(reply[1], reply[2])
                except Exception:  # one bad message must not end the subscription
                    log.exception("handling a message from Redis failed")
            elif isinstance(reply, list) and reply[:1] == ["subscribe"]:
                if reply[2] == len(self.channels) and not self.subscribed.done():
                    self.subscribed.set_result(None)
            elif isinstance(reply, hiredis.ReplyError):
                log.warning("Redis refused the subscription: %s", reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError("Redis closed the subscription"))
        self.on_lost()

    def close(self) -> None:
        self.on_lost = lambda: None
        if self.transport is not None:
            self.transport.close()


class RedisStore:
    """Room state shared through Redis by every server that points at the same database."""

    def __init__(self, url: str, *, voice_cap: int,
                 on_reaped: Callable[[list[tuple[Member, list[Member]]]], Awaitable[None]]
                 | None = None,
                 on_message: Callable[[str, str], object] | None = None) -> None:
        self.url = url
        self.voice_cap = voice_cap
        self.server_id = uuid.uuid4().hex[:12]
        self.on_reaped = on_reaped
        self.on_message = on_message  # (sid, Socket.IO packet text) for a socket of ours
        self.redis: redis.Redis | None = None
        self.replica = Replica()
        self._hints: dict[str, str] = {}  # sid -> server, from room lists (see _members)
        self._tasks: list[asyncio.Task] = []
        self._outbox: dict[str, list[str]] = {}  # server -> "sid packet" lines, in order
        self._announcements: list[str] = []  # this server's changes, in order
        # PUBLISH goes on a connection of its own, in order, written the moment it is ready;
        # redis-py awaited each reply, so a message queued just after a batch left waited a
        # round trip and a turn of the loop. The replies (subscriber counts) are dropped.
        self._publisher: Commands | None = None
        self._resubscribing: asyncio.Task | None = None
        self._subscriber: Subscriber | None = None
        self.subscriptions = 0  # how many times it has subscribed and loaded a snapshot
        self._subscribed = asyncio.Event()
        self._flush_due = False
        self._reconnecting: asyncio.Task | None = None

    async def start(self) -> None:
        # A blocking pool: a thousand people hanging up at once wait their turn for one of
        # 64 connections, instead of failing with "too many connections".
        # Retry on a lost connection: after Redis restarts, each pooled connection fails once.
        pool = redis.BlockingConnectionPool.from_url(
            self.url, max_connections=64, timeout=20, decode_responses=True,
            retry=Retry(ExponentialBackoff(cap=1.0), 3),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError])
        self.redis = redis.Redis(connection_pool=pool)
        self._scripts = ScriptBatch(self.url)
        await self._scripts.start()
        self._claim = self.redis.register_script(_CLAIM_DEAD)
        self._snapshot = self.redis.register_script(_SNAPSHOT)
        await self._subscribe()
        await self._alive()
        await self.redis.sadd(P + "servers", self.server_id)
        self._publisher = await open_commands(parse_url(self.url))
        self._tasks = [asyncio.ensure_future(self._heartbeat())]

    async def close(self) -> None:
        """A clean shutdown: this server's people leave (as their sockets close), then it goes."""
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        if self.redis is not None:
            client, self.redis = self.redis, None  # (from here on, a lost connection is ours)
            self._scripts.close()
            for connection in (self._publisher, self._subscriber):
                if connection is not None:  # (None if start() failed half-way)
                    connection.close()
            if self._resubscribing is not None:
                self._resubscribing.cancel()
            await client.delete(P + "alive:" + self.server_id)
            await client.aclose()

    # -- liveness -------------------------------------------------------------------------------
    async def _alive(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(P + "alive:" + self.server_id, "1", px=ALIVE_MS)
        pipe.sadd(P + "servers", self.server_id)  # again: a restarted Redis may have lost it
        await pipe.execute()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(BEAT_S)
            try:
                await self._alive()
                await self.reap()
            except (redis.RedisError, OSError):
                pass  # Redis away for a moment: try again next beat

    async def reap(self) -> list[tuple[Member, list[Member]]]:
        """Free the seats of people whose server died; tell their rooms (via ``on_reaped``)."""
        gone: list[Member] = []
        for server in await self.redis.smembers(P + "servers"):
            if server == self.server_id:
                continue
            sids = await self._claim(keys=[P + "alive:" + server, P + "s:" + server,
                                           P + "servers"], args=[server])
            for sid in sids:
                member, members = await self.leave_room(sid)
                if member is not None:
                    gone.append((member, members))
        if gone and self.on_reaped is not None:
            await self.on_reaped(gone)
        return gone

    # -- announcements and messages from the other servers ---------------------------------------
    async def _subscribe(self) -> None:
        """Subscribe, then load the snapshot. Announcements made in between are held, and the
        replica skips those the snapshot already holds."""
        held: list[tuple[str, str]] = []
        self._on_push = lambda channel, data: held.append((channel, data))
        options = parse_url(self.url)
        if self._subscriber is not None:
            self._subscriber.close()  # (quietly: it does not call _subscription_lost)
        _, self._subscriber = await open_redis(options, lambda: Subscriber(
            [P + "events", P + "to:" + self.server_id], self._pushed, self._subscription_lost,
            auth_command(options)))
        await self._subscriber.subscribed
        version, *announcements = await self._snapshot(keys=[], args=[])
        self.replica.load(int(version), announcements)
        self._on_push = self._handle_push
        for channel, data in held:
            self._handle_push(channel, data)
        self.subscriptions += 1
        self._subscribed.set()

    async def subscribed(self, times: int, timeout: float = 10) -> None:
        """Wait until this store has subscribed (and loaded a snapshot) ``times`` times in all:
        once at start, once more after each time Redis went away."""
        async def wait() -> None:
            while self.subscriptions < times:
                self._subscribed.clear()
                await self._subscribed.wait()
        await asyncio.wait_for(wait(), timeout)

    def _pushed(self, channel: str, data: str) -> None:
        self._on_push(channel, data)

    def _handle_push(self, channel: str, data: str) -> None:
        if channel == P + "events":
            origin, _, announcements = data.partition("\n")
            if origin != self.server_id:  # our own were applied when made
                for announcement in announcements.split("\n"):
                    self.replica.apply(announcement)
        elif channel == P + "to:" + self.server_id and self.on_message is not None:
            for line in data.split("\n"):
                sid, _, text = line.partition(" ")
                self.on_message(sid, text)
            flush_now()  # they have waited for Redis already: out they go

    def _subscription_lost(self) -> None:
        """Redis went away: announcements may be lost, so subscribe and load a snapshot anew."""
        if self.redis is None:
            return  # closing
        log.warning("Redis subscription lost; subscribing again")
        if self._resubscribing is None or self._resubscribing.done():
            self._resubscribing = asyncio.ensure_future(self._resubscribe())

    async def _resubscribe(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await self._subscribe()
                return
            except (OSError, ConnectionError, redis.RedisError) as exc:
                log.warning("cannot subscribe to Redis (%r); retrying", exc)

    async def forward(self, sid: str, text: str) -> None:
        """Deliver a Socket.IO packet to ``sid`` on whichever server holds its socket."""
        server = self.replica.server_of.get(sid) or self._hints.get(sid)
        if server is None:
            server = await self.redis.hget(P + "m:" + sid, "server")
        if server is None or server == self.server_id:
            return  # gone (if it were ours and connected, it would not come here)
        self._outbox.setdefault(server, []).append(sid + " " + text)
        self._flush_soon()

    def _announce(self, announcement: str) -> None:
        """Apply a change this server just made to its replica, and queue the announcement
        for the others. It leaves before any message queued after it (see _flush)."""
        self.replica.apply_own(announcement)
        self._announcements.append(announcement)
        self._flush_soon()

    def _flush_soon(self) -> None:
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Publish what this turn of the loop queued: the announcements as one message on
        ``P events``, then everything for each server as one message on its channel (one line
        per packet: JSON never holds a raw newline). Redis delivers them in that order, so
        another server learns of a change before any message sent because of it, and one
        server's announcements stay in the order its changes were made."""
        self._flush_due = False
        if not self._publisher.connected:
            if self._reconnecting is None or self._reconnecting.done():
                self._reconnecting = asyncio.ensure_future(self._reconnect())
            return  # kept until connected
        if self._announcements:
            self._publish(P + "events", "\n".join([self.server_id, *self._announcements]))
            self._announcements = []
        for server, lines in self._outbox.items():
            self._publish(P + "to:" + server, "\n".join(lines))
        self._outbox = {}

    def _publish(self, channel: str, message: str) -> None:
        self._publisher.call(_refused_publish, "PUBLISH", channel, message)

    async def _reconnect(self) -> None:
        for attempt in range(5):
            try:
                self._publisher = await open_commands(parse_url(self.url))
                self._flush()
                return
            except OSError as exc:
                log.warning("cannot publish to Redis (%r); retrying", exc)
                await asyncio.sleep(0.2 * (attempt + 1))
        log.error("gave up publishing %d announcements and messages for %d servers",
                  len(self._announcements), len(self._outbox))
        self._announcements, self._outbox = [], {}

    # -- the store's questions ------------------------------------------------------------------
    # Changes go to Redis, as atomic scripts that also answer with the room as it now is. Their
    # announcements are applied here at once (the replica sorts out the order), so a relay to
    # or from this server's own people right after a change is checked against the change.
    async def member(self, sid: str) -> Member | None:
        return self.replica.rooms.members.get(sid)

    async def join_room(self, sid: str, room: str, username: str,
                        user_id: str | None) -> tuple[Member, list[Member]]:
        result = await self._scripts.run(
            "join_room",
            [P + "m:" + sid, P + "r:" + room, P + "s:" + self.server_id, P + "seq"],
            [sid, room, username, user_id or "", self.server_id])
        if result[0] != "OK":
            raise RoomError(result[1])
        return self._changed(sid, result)

    async def join_voice(self, sid: str, room: str) -> tuple[Member, list[Member], list[Member]]:
        result = await self._scripts.run("join_voice", [P + "m:" + sid, P + "v:" + room],
                                         [sid, room, self.voice_cap])
        if result[0] == "FULL":
            raise VoiceFull()
        if result[0] != "OK":
            raise RoomError(result[1])
        member, members = self._changed(sid, result)
        return member, [m for m in members if m.in_voice and m.sid != sid], members

    async def leave_voice(self, sid: str, room: str | None = None
                          ) -> tuple[Member, list[Member]]:
        result = await self._scripts.run("leave_voice", [P + "m:" + sid], [sid, room or ""])
        if result[0] != "OK":
            raise RoomError(result[1])
        return self._changed(sid, result)

    async def leave_room(self, sid: str) -> tuple[Member | None, list[Member]]:
        result = await self._scripts.run("leave_room", [P + "m:" + sid], [sid])
        if not result:
            return None, []
        self._announce(result[1])
        return member_of(result[3]), self._members(result[2])

    def _changed(self, sid: str, result: list) -> tuple[Member, list[Member]]:
        self._announce(result[1])
        members = self._members(result[2])
        return next(m for m in members if m.sid == sid), members

    def _members(self, rows: list | dict) -> list[Member]:
        """A room list as a script returns it (member arrays). Where each member's socket is,
        is noted too: the room is about to be told something, and this server's replica may
        not have heard of a member who joined on another server a moment ago."""
        if len(self._hints) > 100_000:
            self._hints.clear()
        members = []
        for row in rows or ():  # (Lua's empty table comes back as {})
            self._hints[row[0]] = row[1]
            members.append(member_of(row))
        return members

    async def check_relay(self, sid: str, to: str) -> tuple[Member, Member]:
        """The same rule as :meth:`Rooms.check_relay`, answered by the replica; a refusal is
        confirmed with Redis first (the replica may not know people older than itself)."""
        try:
            return self.replica.rooms.check_relay(sid, to)
        except RoomError:
            pass
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(P + "m:" + sid)
        pipe.hgetall(P + "m:" + to)
        sender, target = map(_from_hash, await pipe.execute())
        if sender is None:
            raise RoomError("join a room first")
        if not sender.in_voice:
            raise RoomError("you are not in voice")
        if to == sid:
            raise RoomError("cannot signal yourself")
        if target is None or target.room != sender.room:
            raise RoomError(f"no member {to} in room {sender.room}")
        if not target.in_voice:
            raise RoomError(f"{to} is not in voice")
        return sender, target

    async def counts(self) -> dict:
        pipe = self.redis.pipeline(transaction=False)
        async for key in self.redis.scan_iter(P + "m:*"):
            pipe.hgetall(key)
        members = [m for m in map(_from_hash, await pipe.execute()) if m is not None]
        return {"rooms": len({m.room for m in members}), "members": len(members),
                "inVoice": sum(m.in_voice for m in members)}
